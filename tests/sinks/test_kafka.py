"""The Kafka sink against a real broker (Tansu)."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from aiops.alerting.sinks.kafka import DEDUP_HEADER, KafkaSink, KafkaSinkConfig
from aiops.detectors.core.errors import RetryableDeliveryError

pytestmark = pytest.mark.integration


def _read(bootstrap: str, topic: str, count: int, timeout_s: float = 20.0) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "sink-test", "enable.auto.commit": False,
                         "session.timeout.ms": 6000})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got, deadline = [], time.monotonic() + timeout_s
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                got.append(msg)
    finally:
        consumer.close()
    return got


class TestKafkaSink:
    async def test_notifications_are_produced_with_key_and_dedup_header(self, kafka_broker, topic_factory,
                                                                        new_notification):
        """send returns after the broker acknowledged; a consumer reads JSON, group key and dedup header."""
        topic = topic_factory("alerts.sink-test")
        sink = KafkaSink(KafkaSinkConfig(bootstrap_servers=kafka_broker.bootstrap, topic=topic, timeout_s=10))
        notes = [new_notification(i) for i in range(3)]
        try:
            for note in notes:
                await sink.send(note)
        finally:
            await sink.close()
        msgs = _read(kafka_broker.bootstrap, topic, 3)
        assert [m.key().decode() for m in msgs] == [n.group_key for n in notes]
        assert [dict(m.headers())[DEDUP_HEADER].decode() for m in msgs] == [n.dedup_key for n in notes]
        body = json.loads(msgs[0].value())
        assert body["receiver"] == "sre" and body["status"] == "firing"
        assert body["alerts"][0]["fingerprint"] == notes[0].alerts[0].fingerprint
        assert body["dedup_key"] == notes[0].dedup_key

    async def test_unreachable_broker_is_retryable(self, unused_port, new_notification):
        """With no broker, the delivery report is a timeout: retryable."""
        sink = KafkaSink(KafkaSinkConfig(bootstrap_servers=f"127.0.0.1:{unused_port}", topic="x", timeout_s=1))
        try:
            with pytest.raises(RetryableDeliveryError):
                await sink.send(new_notification(0))
        finally:
            await sink.close()
