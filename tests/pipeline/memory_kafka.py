"""In-memory stand-ins for the few Kafka objects a Worker writes to and reads from, so it runs without a broker.

``install(worker)`` gives the worker topics that keep what is sent, a producer whose ``flush`` is counted, and a
state reader over its own state topic; the agents are not started (tests call the worker's methods as the agents
would). End-to-end behaviour with a real broker is in tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sent:
    key: bytes | None
    value: bytes
    partition: int | None
    flushed: bool = False


class MemoryTopic:
    """Keeps every record sent, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[Sent] = []

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, *, key: bytes | None = None, value: bytes, partition: int | None = None) -> None:
        self.records.append(Sent(key, value, partition))

    @property
    def values(self) -> list[bytes]:
        return [r.value for r in self.records]


@dataclass
class MemoryProducer:
    """``flush`` marks everything sent so far as durable."""

    topics: list[MemoryTopic] = field(default_factory=list)
    flushes: int = 0

    async def flush(self) -> None:
        self.flushes += 1
        for topic in self.topics:
            for record in topic.records:
                record.flushed = True


class MemoryKafka:
    """The worker's topics in memory; ``read_state`` reads the state topic as ``aiops.pipeline.state_store`` does."""

    def __init__(self) -> None:
        self.topics: dict[str, MemoryTopic] = {}
        self.producer = MemoryProducer()

    def topic(self, name: str) -> MemoryTopic:
        if name not in self.topics:
            self.topics[name] = MemoryTopic(name)
            self.producer.topics.append(self.topics[name])
        return self.topics[name]

    def read_state(self, settings, partitions, *, unfinished=None, timeout_s: float = 30.0,
                   on_batch=None) -> dict[str, bytes]:
        """Latest flushed record per key on the partitions asked for (what a restarted worker would read).

        Returned at once, not handed to ``on_batch`` (a reader may do either)."""
        latest: dict[str, bytes] = {}
        for record in self.topic(settings.topics.state).records:
            if record.flushed and record.partition in partitions:
                latest[record.key.decode()] = record.value
        return latest

    def install(self, worker) -> None:
        """Point the worker's topics, producer and state reader here (they may be shared by several workers)."""
        t = worker.settings.topics
        for attr, name in (("metrics_topic", t.metrics), ("logs_topic", t.logs), ("events_topic", t.events),
                           ("anomalies_topic", t.anomalies), ("deadletter_topic", t.deadletter),
                           ("state_topic", t.state), ("feedback_topic", t.feedback), ("audit_topic", t.audit)):
            setattr(worker, attr, self.topic(name))
        worker.app._producer = self.producer
        worker.read_state = self.read_state


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


@dataclass
class ConsumedRecord:
    """What a Faust agent's ``take_events`` yields: a value and its message's coordinates."""

    value: bytes
    message: Message


def consumed(topic: str, values: list[bytes], *, partition: int = 0, first_offset: int = 0) -> list[ConsumedRecord]:
    return [ConsumedRecord(v, Message(topic, partition, first_offset + i)) for i, v in enumerate(values)]
