"""Where and how the worker's Faust app reaches the brokers: URLs of the transport and the credentials."""

from __future__ import annotations

import ssl
from typing import Any

import faust

from aiops.pipeline.config import Settings
from aiops.pipeline.faust_transport import SCHEME


def broker_urls(settings: Settings) -> list[str]:
    return [f"{SCHEME}://{server.strip()}" for server in settings.kafka.bootstrap_servers.split(",") if server.strip()]


def broker_credentials(settings: Settings) -> Any:
    k = settings.kafka
    ssl_context = None
    if k.security_protocol in ("SSL", "SASL_SSL"):
        ssl_context = ssl.create_default_context(cafile=k.ssl_cafile)
        if k.ssl_certfile:
            ssl_context.load_cert_chain(k.ssl_certfile, k.ssl_keyfile)
    if k.security_protocol.startswith("SASL"):
        password = k.sasl_password.get_secret_value() if k.sasl_password else None
        return faust.SASLCredentials(
            username=k.sasl_username, password=password,
            mechanism=k.sasl_mechanism or "PLAIN", ssl_context=ssl_context,
        )
    return ssl_context


