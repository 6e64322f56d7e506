"""The security part of a librdkafka client config, shared by the worker and the Kafka alert sink."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr


def librdkafka_security(protocol: str, mechanism: str | None, username: str | None,
                        password: SecretStr | None) -> dict[str, Any]:
    """The security part of a librdkafka (confluent-kafka) client config.

    >>> librdkafka_security("SASL_SSL", "PLAIN", "u", SecretStr("p"))["sasl.password"]
    'p'
    """
    conf: dict[str, Any] = {"security.protocol": protocol}
    if mechanism:
        conf["sasl.mechanism"] = mechanism
    if username:
        conf["sasl.username"] = username
    if password:
        conf["sasl.password"] = password.get_secret_value()
    return conf
