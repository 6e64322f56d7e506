"""The sink registry: kind name -> sink class, and ``build_sink(config)``.

A sink class carries its ``config_model``. A package adds a sink with one
entry point in the ``aiops.sink`` group naming the class (the plural
``aiops.sinks`` group is still read, deprecated). ``SinkConfigByType`` is
the type of a ``receivers[].sinks`` entry: its ``type`` picks the class,
whose model validates it.

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

from typing import Any

from pydantic import BaseModel, ValidationError

from aiops.alerting.plugin_config import ConfigByType
from aiops.alerting.sinks.base import Sink, SinkConfig
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.registry import Registry

BUILTIN_SINKS = {
    "console": "aiops.alerting.sinks.console:ConsoleSink",
    "alertmanager": "aiops.alerting.sinks.alertmanager:AlertmanagerSink",
    "slack": "aiops.alerting.sinks.slack:SlackSink",
    "pagerduty": "aiops.alerting.sinks.pagerduty:PagerdutySink",
    "webhook": "aiops.alerting.sinks.webhook:WebhookSink",
    "email": "aiops.alerting.sinks.email:EmailSink",
    "kafka": "aiops.alerting.sinks.kafka:KafkaSink",
    "influxdb": "aiops.alerting.sinks.influxdb:InfluxdbSink",
}

SINKS = Registry("sink", BUILTIN_SINKS, deprecated_groups=("aiops.sinks",))

SINK_CONFIGS = ConfigByType(SINKS, SinkConfig, documented=tuple(BUILTIN_SINKS))
SinkConfigByType = SINK_CONFIGS.annotation()


def build_sink(config: BaseModel | dict[str, Any]) -> Sink:
    """A sink from its config model, or from a plain dict with a ``type`` key."""
    kind = config.get("type") if isinstance(config, dict) else getattr(config, "type", None)
    if not isinstance(kind, str):
        raise ConfigError("sink config needs a 'type'")
    cls = SINKS.load(kind)
    if isinstance(config, dict):
        try:
            config = SINK_CONFIGS.model_for(kind).model_validate(config)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid {kind} sink config: {problems}") from None
    return cls(config)
