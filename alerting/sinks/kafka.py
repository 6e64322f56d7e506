"""Kafka: the notification as JSON on a topic (confluent-kafka), delivery confirmed.

Key = the group key (one group stays on one partition, in order); headers
carry the dedup key and receiver so consumers can drop repeats. ``send``
returns only after the broker acknowledged the message.

>>> KafkaSinkConfig(topic="alerts").producer_config()["enable.idempotence"]
True
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from aiops.alerting.alert import Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.http import encode_json
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError

DEDUP_HEADER = "aiops-dedup-key"
RECEIVER_HEADER = "aiops-receiver"


class KafkaSinkConfig(SinkConfig):
    type: Literal["kafka"] = Field("kafka",
            description="selects the Kafka sink (each notification as one JSON record, keyed by its group)")
    bootstrap_servers: str = Field("127.0.0.1:9092", description="comma-separated host:port list of the brokers")
    topic: str = Field("alerts", description="topic the alerts are written to")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field("PLAINTEXT",
            description="plain or TLS, with or without SASL")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(None,
            description="SASL mechanism (null: no SASL)")
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(None, description="SASL password; write ${NAME}")
    ssl_cafile: str | None = Field(None, description="CA bundle that signed the brokers' certificates")
    ssl_certfile: str | None = Field(None, description="client certificate (mutual TLS)")
    ssl_keyfile: str | None = Field(None, description="private key of the client certificate")
    producer: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                          description="extra librdkafka producer settings")

    def producer_config(self) -> dict[str, Any]:
        from aiops.detectors.core.kafka_security import librdkafka_security

        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": int(self.timeout_s * 1000),
            "linger.ms": 5,
        }
        conf.update(librdkafka_security(self.security_protocol, self.sasl_mechanism, self.sasl_username,
                                        self.sasl_password))
        for key, value in (("ssl.ca.location", self.ssl_cafile), ("ssl.certificate.location", self.ssl_certfile),
                           ("ssl.key.location", self.ssl_keyfile)):
            if value:
                conf[key] = value
        conf.update(self.producer)
        return conf


class KafkaSink:
    """Produces one record per notification and awaits its delivery report."""

    kind: ClassVar[str] = "kafka"
    config_model: ClassVar[type[SinkConfig]] = KafkaSinkConfig

    def __init__(self, config: KafkaSinkConfig) -> None:
        from confluent_kafka import Producer

        self.config = config
        self._producer = Producer(config.producer_config())

    async def send(self, notification: Notification) -> None:
        from confluent_kafka import KafkaException

        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: Any, _msg: Any) -> None:
            loop.call_soon_threadsafe(_settle, done, err)

        what = self.config.name or "kafka"
        value = encode_json({**notification.to_dict(), "dedup_key": notification.dedup_key}, what=what)
        headers = [(DEDUP_HEADER, notification.dedup_key.encode()), (RECEIVER_HEADER, notification.receiver.encode())]
        try:
            self._producer.produce(self.config.topic, value=value, key=notification.group_key.encode(),
                                   headers=headers, on_delivery=on_delivery)
        except BufferError:
            raise RetryableDeliveryError(f"{what}: local producer queue is full") from None
        except KafkaException as exc:
            raise _delivery_error(what, exc.args[0]) from None
        deadline = loop.time() + self.config.timeout_s + 5.0
        while not done.done():
            if loop.time() > deadline:
                raise RetryableDeliveryError(f"{what}: no delivery report in time")
            await asyncio.to_thread(self._producer.poll, 0.05)
        await done

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.flush, self.config.timeout_s)


def _settle(done: asyncio.Future[None], err: Any) -> None:
    if done.done():
        return
    if err is None:
        done.set_result(None)
    else:
        done.set_exception(_delivery_error("kafka", err))


def _delivery_error(what: str, err: Any) -> RetryableDeliveryError | PermanentDeliveryError:
    retriable = bool(getattr(err, "retriable", lambda: False)()) or _is_timeout(err)
    error = RetryableDeliveryError if retriable else PermanentDeliveryError
    return error(f"{what}: {getattr(err, 'str', lambda: str(err))()}")


def _is_timeout(err: Any) -> bool:
    from confluent_kafka import KafkaError

    code = getattr(err, "code", lambda: None)()
    return code in (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
                    KafkaError.REQUEST_TIMED_OUT, KafkaError.NOT_LEADER_FOR_PARTITION)
