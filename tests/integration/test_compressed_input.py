"""Compressed input: points produced with gzip, snappy, lz4 and zstd are all read and scored by a real worker.

Telegraf, Vector, Fluent Bit and Java producers compress with any of the four
codecs; ``aiops generate`` uses lz4. Each codec is produced twice, by Debian's
kcat (``-z CODEC``) and by confluent-kafka (``compression.type``), each with
its own hosts, so a codec the worker cannot read leaves its points unscored.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import codec as aiokafka_codec
from confluent_kafka import Producer

from tests.support.kcat import run_kcat

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
POINTS = 40  # per producer and codec


def line_protocol(host: str, start: float) -> bytes:
    lines = [f"cpu,host={host} user={20 + (k % 7) * 0.5} {int((start + k) * 1e9)}" for k in range(POINTS)]
    return ("\n".join(lines) + "\n").encode()


def json_batches(host: str, start: float) -> list[bytes]:
    """Telegraf-style JSON, ten points per message."""
    points = [{"name": "cpu", "tags": {"host": host}, "fields": {"user": 20 + (k % 7) * 0.5},
               "timestamp": start + k} for k in range(POINTS)]
    return [json.dumps(points[i:i + 10]).encode() for i in range(0, POINTS, 10)]


def produce_kcat(bootstrap: str, topic: str, codec: str, payload: bytes) -> None:
    proc = run_kcat(["-P", "-b", bootstrap, "-t", topic, "-z", codec, "-X", "linger.ms=20"], input=payload)
    assert proc.returncode == 0, proc.stderr.decode()


def produce_confluent(bootstrap: str, topic: str, codec: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(15) == 0, f"{codec}: messages left unsent"


async def codec_error_without_cramjam(bootstrap: str, topic: str) -> str:
    """The error aiokafka gives reading the topic without the codec library (it must not read it)."""
    saved = aiokafka_codec.cramjam
    aiokafka_codec.cramjam = None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        try:
            await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 10)
        except Exception as exc:  # UnsupportedCodecError, from the fetcher
            return f"{type(exc).__name__}: {exc}"
        return ""
    finally:
        aiokafka_codec.cramjam = saved
        await consumer.stop()


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_broker_hands_on_compressed_batches(broker, codec):
    """The test broker keeps the producer's codec, so the worker test below really reads compressed batches."""
    topic = f"codec-probe-{codec}-{int(time.time() * 1000)}"
    broker.create_topic(topic, 1)
    produce_confluent(broker.bootstrap, topic, codec, [b"x" * 200] * 5)
    said = asyncio.run(codec_error_without_cramjam(broker.bootstrap, topic))
    assert codec in said.lower(), f"reading {codec} without its library did not fail: {said!r}"


def test_every_codec_is_read_and_scored(broker, workers):
    """kcat and confluent-kafka, each with gzip, snappy, lz4 and zstd: every point is scored, none dead-lettered."""
    cfg = workers.config()
    worker = workers.start(cfg)
    topic = cfg["topics"]["metrics"]
    start = time.time() - 600
    for codec in CODECS:
        produce_kcat(broker.bootstrap, topic, codec, line_protocol(f"kcat-{codec}", start))
        produce_confluent(broker.bootstrap, topic, codec, json_batches(f"confluent-{codec}", start))
    expected = POINTS * 2 * len(CODECS)
    stats = worker.wait_for(lambda s: s["points_scored"] >= expected, timeout_s=60)
    assert stats["events_in"] == expected
    assert stats["points_scored"] == expected
    assert stats["dead_letters"] == 0
    assert worker.proc.poll() is None, "the worker exited"
    assert worker.health()["points_scored"] == expected
