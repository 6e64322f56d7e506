"""Check, before anything starts, that the configured Kafka security lets this process in.

A wrong SASL password or a broker certificate the client does not trust
otherwise shows as endless reconnect logs from every client. ``check_access``
connects once, quietly, and turns the first failure into one line naming
the cause (``KafkaAccessError``): the commands print it and exit non-zero.

>>> conf = {"bootstrap.servers": "k:9093", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "aiops"}
>>> describe_failure(conf, ["sasl_ssl://k:9093/bootstrap: SASL authentication error: invalid credentials "
...                         "(after 8ms in state AUTH_REQ)"], "")
"Kafka at k:9093 refused SASL SCRAM-SHA-512 login of user 'aiops': SASL authentication error: invalid credentials"
"""

from __future__ import annotations

import re
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from aiops.detectors.core.errors import AiopsError, ConfigError
from aiops.pipeline.config import KafkaSettings


class KafkaAccessError(AiopsError):
    """The broker cannot be reached with the configured security (credentials, certificates)."""


_FATAL = frozenset((KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED))


def check_access(kafka: KafkaSettings, *, timeout_s: float = 15.0) -> None:
    """Return when a metadata request succeeds; ``KafkaAccessError`` with the cause otherwise."""
    check_conf(kafka.confluent(), timeout_s=timeout_s)


def check_conf(conf: dict[str, Any], *, timeout_s: float = 15.0) -> None:
    """``check_access`` for a librdkafka configuration dict (the generator's)."""
    seen: list[str] = []

    def on_error(err: KafkaError) -> None:
        if err.code() in _FATAL:
            seen.append(err.str())

    try:
        admin = AdminClient({k: v for k, v in conf.items() if k != "logger"} | {"log_level": 0, "error_cb": on_error})
    except KafkaException as exc:  # an option the client library does not know, or a bad value
        raise ConfigError(f"Kafka client configuration: {_said(exc)}") from None
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            admin.poll(0.2)  # deliver the error callbacks that say why
            if seen or time.monotonic() >= deadline:  # refused: no point in waiting out the timeout
                raise KafkaAccessError(describe_failure(conf, seen, _said(exc))) from None


def describe_failure(conf: dict[str, Any], reasons: list[str], fallback: str) -> str:
    """One line: where, as whom, and the first reason the client library gave."""
    where = conf.get("bootstrap.servers", "?")
    if not reasons:
        return f"cannot reach Kafka at {where} ({conf.get('security.protocol', 'PLAINTEXT')}): {fallback}"
    reason = re.sub(r"^\S+://\S+/\S+: ", "", reasons[0])
    reason = re.sub(r" \(after \d+ms in state \w+\)$", "", reason)
    if reason.startswith("SSL"):
        return f"TLS with Kafka at {where} failed: {reason}"
    return (f"Kafka at {where} refused SASL {conf.get('sasl.mechanism')} login of user "
            f"{conf.get('sasl.username')!r}: {reason}")


def _said(exc: KafkaException) -> str:
    """The client library's own words, without the error object's wrapping."""
    err = exc.args[0] if exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc)
