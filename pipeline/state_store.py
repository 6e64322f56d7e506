"""Reading per-series state back from the state topic.

The state topic is compacted and keyed ``owner/series-id``; a series' state
sits on the partition number of its events, so a worker reads exactly the
partitions it was assigned, from the beginning, keeping the last record per
key. The end of a partition is taken from the consumer's end-of-partition
event, not from the high watermark read before: some Kafka-compatible
brokers (Tansu among them) report a watermark that lags the last batch.
"""

from __future__ import annotations

import time
import uuid

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from aiops.detectors.core.progress import ProgressLog
from aiops.pipeline.config import Settings

log = structlog.get_logger(__name__)


def read_state(settings: Settings, partitions: list[int], *, timeout_s: float = 30.0,
               unfinished: set[int] | None = None) -> dict[str, bytes]:
    """Latest state record per key on the given partitions (an empty value deletes the key).

    The partitions not read to their end within ``timeout_s`` are added to ``unfinished`` when given.
    A read that lasts logs how far it is (``state.restoring``, offsets read of those to read) every 2 s.
    """
    topic = settings.topics.state
    conf = settings.kafka.confluent() | {
        "group.id": f"{settings.kafka.group_id}-state-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    consumer = Consumer(conf)
    states: dict[str, bytes] = {}
    try:
        pending, reached = {}, {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                pending[p], reached[p] = high, low
        if not pending:
            return states
        progress = ProgressLog(log, "state.restoring", sum(pending[p] - reached[p] for p in pending),
                               partitions=len(pending))
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.pop(msg.partition(), None)
                continue
            p, next_offset = msg.partition(), msg.offset() + 1
            if next_offset > reached.get(p, next_offset):
                progress.advance(next_offset - reached[p])
                reached[p] = next_offset
            key = (msg.key() or b"").decode()
            if msg.value():
                states[key] = msg.value()
            else:
                states.pop(key, None)
        if unfinished is not None:
            unfinished.update(pending)
    finally:
        consumer.close()
    return states
