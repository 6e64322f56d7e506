"""The sink registry: kind name -> sink class, and ``build_sink(config)``.

``SinkConfigUnion`` is the discriminated union (on ``type``) of every built-in
sink config, for the alerting settings' ``receivers`` entries.

>>> SINKS.names()[:3]
['alertmanager', 'console', 'email']
>>> sink = build_sink({"type": "console"})
>>> type(sink).__name__, sink.config.type
('ConsoleSink', 'console')
>>> build_sink({"type": "slack"})
Traceback (most recent call last):
...
aiops.detectors.core.errors.ConfigError: invalid slack sink config: webhook_url: Field required
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from aiops.alerting.sinks.alertmanager import AlertmanagerSinkConfig
from aiops.alerting.sinks.base import Sink
from aiops.alerting.sinks.console import ConsoleSinkConfig
from aiops.alerting.sinks.email import EmailSinkConfig
from aiops.alerting.sinks.influxdb import InfluxdbSinkConfig
from aiops.alerting.sinks.kafka import KafkaSinkConfig
from aiops.alerting.sinks.pagerduty import PagerdutySinkConfig
from aiops.alerting.sinks.slack import SlackSinkConfig
from aiops.alerting.sinks.webhook import WebhookSinkConfig
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.registry import Registry

SINKS = Registry("sinks", {
    kind: f"aiops.alerting.sinks.{kind}:{kind.capitalize()}Sink"
    for kind in ("console", "alertmanager", "slack", "pagerduty", "webhook", "email", "kafka", "influxdb")
})

SinkConfigUnion = Annotated[
    ConsoleSinkConfig | AlertmanagerSinkConfig | SlackSinkConfig | PagerdutySinkConfig | WebhookSinkConfig
    | EmailSinkConfig | KafkaSinkConfig | InfluxdbSinkConfig,
    Field(discriminator="type"),
]


def build_sink(config: BaseModel | dict[str, Any]) -> Sink:
    """A sink from its config model, or from a plain dict with a ``type`` key."""
    kind = config.get("type") if isinstance(config, dict) else getattr(config, "type", None)
    if not isinstance(kind, str):
        raise ConfigError("sink config needs a 'type'")
    cls = SINKS.load(kind)
    if isinstance(config, dict):
        try:
            config = cls.config_model.model_validate(config)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid {kind} sink config: {problems}") from None
    return cls(config)
