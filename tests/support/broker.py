"""A broker for tests: the embedded Tansu, plus small produce/consume helpers."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from aiops.pipeline.tools.embedded_broker import EmbeddedBroker


def topic_partitions(bootstrap: str, topic: str) -> list[int]:
    """The topic's partition numbers (none when the topic does not exist)."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return sorted(md.topics[topic].partitions) if topic in md.topics else []


@dataclass
class BrokerHandle:
    process: EmbeddedBroker

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    def stop(self) -> None:
        self.process.stop()

    def create_topic(self, name: str, partitions: int = 1) -> None:
        self.process.create_topic(name, partitions)

    def produce(self, topic: str, values: list[bytes], *, key: bytes | None = None) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        for value in values:
            producer.produce(topic, key=key, value=value)
        assert producer.flush(15) == 0, "messages left unsent"

    def partitions(self, topic: str) -> list[int]:
        return topic_partitions(self.bootstrap, topic)

    def read_all(self, topic: str, *, timeout_s: float = 10.0, min_count: int = 0, quiet_s: float = 1.5) -> list:
        """Every record of the topic from the start: waits for min_count, then until quiet_s without news."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                             "enable.auto.commit": False})
        parts = self.partitions(topic)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        records = []
        deadline = time.monotonic() + timeout_s
        last_news = time.monotonic()
        try:
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is not None and not msg.error():
                    records.append(msg)
                    last_news = time.monotonic()
                    continue
                if len(records) >= min_count and time.monotonic() - last_news > quiet_s:
                    break
        finally:
            consumer.close()
        return records


def start_broker() -> BrokerHandle:
    return BrokerHandle(EmbeddedBroker().start())
