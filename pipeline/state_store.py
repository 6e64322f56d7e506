"""Reading per-series state back from the state topic.

The state topic is compacted and keyed ``owner/series-id``; a series' state
sits on the partition number of its events, so a worker reads exactly the
partitions it was assigned, from the beginning, keeping the last record per
key. The end of a partition is taken from the consumer's end-of-partition
event, not from the high watermark read before: some Kafka-compatible
brokers (Tansu among them) report a watermark that lags the last batch.

Given ``on_batch``, the records are handed over a batch at a time while the
rest is still being fetched (the client fetches ahead in its own threads),
so a restore applies what it has instead of waiting for the whole topic.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from aiops.detectors.core.progress import ProgressLog
from aiops.pipeline.config import Settings

log = structlog.get_logger(__name__)

#: A batch of records read: key -> its latest value in the batch, None when that was a deletion (empty value);
#: and how many records the partitions still hold past it (an estimate: what their offsets say).
BatchHandler = Callable[[dict[str, bytes | None], int], None]


def read_state(settings: Settings, partitions: list[int], *, timeout_s: float = 30.0,
               unfinished: set[int] | None = None, on_batch: BatchHandler | None = None,
               batch_records: int = 4000) -> dict[str, bytes]:
    """Latest state record per key on the given partitions (an empty value deletes the key).

    The partitions not read to their end within ``timeout_s`` (not counting the time in ``on_batch``) are added to
    ``unfinished`` when given.
    A read that lasts logs how far it is (``state.restoring``, offsets read of those to read) every 2 s.
    With ``on_batch``, every ``batch_records`` records read (and the rest at the end) go to it in order,
    a later batch overriding an earlier one's keys, and nothing is returned.
    """
    topic = settings.topics.state
    conf = settings.kafka.confluent() | {
        "group.id": f"{settings.kafka.group_id}-state-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        # Fetch ahead while a batch is applied: a full queue pauses fetching for fetch.queue.backoff.ms (1 s by
        # default), which left the reading idle for seconds of a restore; 128 MB bounds what is held ahead.
        "queued.max.messages.kbytes": 131072,
        "fetch.queue.backoff.ms": 10,
    }
    consumer = Consumer(conf)
    states: dict[str, bytes | None] = {}
    try:
        pending, reached = {}, {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                pending[p], reached[p] = high, low
        if not pending:
            return {}
        left = sum(pending[p] - reached[p] for p in pending)
        progress = ProgressLog(log, "state.restoring", left, partitions=len(pending))
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.pop(msg.partition(), None)
                    continue
                p, next_offset = msg.partition(), msg.offset() + 1
                if next_offset > reached.get(p, next_offset):
                    progress.advance(next_offset - reached[p])
                    left -= next_offset - reached[p]
                    reached[p] = next_offset
                key = (msg.key() or b"").decode()
                value = msg.value()
                if value:
                    states[key] = value
                elif on_batch is not None:
                    states[key] = None  # the batch says so: the key may have been handed over before
                else:
                    states.pop(key, None)
            if on_batch is not None and len(states) >= batch_records:
                handed = time.monotonic()
                on_batch(states, max(left, 0))
                states = {}
                deadline += time.monotonic() - handed  # ``timeout_s`` bounds the reading, not the applying
        if on_batch is not None and states:
            on_batch(states, 0)
            states = {}
        if unfinished is not None:
            unfinished.update(pending)
    finally:
        consumer.close()
    return {k: v for k, v in states.items() if v is not None}
