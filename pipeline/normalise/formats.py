"""The input formats known by name: the built-ins, plus those of plugins (entry-point group ``aiops.input_format``).

Each raw topic has a format setting (``ingest.formats.metrics`` and
``ingest.formats.logs``). ``auto``, the default, detects the format per
payload: JSON (an object, an array, Telegraf's ``{"metrics": [...]}``) or, line
by line, JSON lines mixed with line protocol (metrics) or syslog (logs). A
named format reads every payload of that topic.

A format is one class: ``kind`` (``"metrics"`` or ``"logs"``: the topic it
reads), ``Params`` (a pydantic model of its settings), ``__init__(params)``
and ``parse_line(text, *, now, zone)`` returning a ``records.MetricPoint`` or
``records.LogLine`` (raising ``InputError`` for a bad line, which is
dead-lettered with the reason). A JSON format adds ``parse_item(item)``: a
payload that is one JSON document is decoded once and each of its items
handed to it.

>>> INPUT_FORMATS.load("syslog").kind
'logs'
>>> spec = FormatSpec(type="line_protocol")
>>> InputFormats(metrics=spec).metrics.type
'line_protocol'
>>> InputFormats(logs={"type": "csv"})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for InputFormats
logs
  Value error, type: unknown input format 'csv'; known: auto, line_protocol, log_json, metric_json, syslog ...
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aiops.detectors.config import describe_problems
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.registry import Registry

AUTO = "auto"

INPUT_FORMATS = Registry(
    "input_format",
    {
        "metric_json": "aiops.pipeline.normalise.metric_json:MetricJsonFormat",
        "line_protocol": "aiops.pipeline.normalise.line_protocol:LineProtocolFormat",
        "log_json": "aiops.pipeline.normalise.log_json:LogJsonFormat",
        "syslog": "aiops.pipeline.normalise.syslog:SyslogFormat",
    },
)


class InputFormat(Protocol):
    """What the normaliser asks of a format (one instance per worker)."""

    kind: str

    def parse_line(self, text: str, *, now: float, zone: Any) -> Any:  # a MetricPoint or a LogLine
        ...


class NoParams(BaseModel):
    """The settings of a format that has none."""

    model_config = ConfigDict(extra="forbid")


def format_class(name: str) -> Any:
    """The class of the input format ``name`` (``ConfigError`` naming the known ones if none)."""
    known = INPUT_FORMATS.names()
    if name not in known:
        raise ConfigError(f"unknown input format {name!r}; known: {', '.join([AUTO, *known])}")
    return INPUT_FORMATS.load(name)


class FormatSpec(BaseModel):
    """The format of one raw topic: ``auto`` or a format by name, with its settings."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(AUTO, description="auto (JSON, or line protocol / syslog, detected per payload), a built-in "
                                        "format (metric_json, line_protocol, log_json, syslog) or one installed as "
                                        "a plugin")
    params: dict[str, Any] = Field(default_factory=dict, description="the format's settings (its own keys)")

    @model_validator(mode="after")
    def _check_type_and_params(self) -> FormatSpec:
        if self.type == AUTO:
            if self.params:
                raise ValueError("params: auto takes none")
            return self
        try:
            cls = format_class(self.type)
        except ConfigError as exc:
            raise ValueError(f"type: {exc}") from None
        except ImportError as exc:
            raise ValueError(f"type: input format {self.type!r} cannot be imported: {exc}") from None
        try:
            getattr(cls, "Params", NoParams).model_validate(self.params)
        except ValidationError as exc:
            raise ValueError("; ".join(describe_problems(exc, "params"))) from None
        return self

    def build(self) -> Any:
        """The format's instance (None for ``auto``)."""
        if self.type == AUTO:
            return None
        cls = format_class(self.type)
        return cls(getattr(cls, "Params", NoParams).model_validate(self.params))


class InputFormats(BaseModel):
    """The format of each raw topic (``ingest.formats``)."""

    model_config = ConfigDict(extra="forbid")

    metrics: FormatSpec = Field(default_factory=FormatSpec, description="format of the metrics topic")
    logs: FormatSpec = Field(default_factory=FormatSpec, description="format of the logs topic")

    @model_validator(mode="after")
    def _kinds_match(self) -> InputFormats:
        for kind in ("metrics", "logs"):
            spec: FormatSpec = getattr(self, kind)
            if spec.type != AUTO:
                reads = getattr(format_class(spec.type), "kind", None)
                if reads != kind:
                    raise ValueError(f"{kind}.type: input format {spec.type!r} reads {reads}, not {kind}")
        return self

    def chosen(self) -> dict[str, tuple[str, Any]]:
        """Each topic kind whose format is not ``auto``: the format's name and instance."""
        return {kind: (spec.type, spec.build()) for kind in ("metrics", "logs")
                if (spec := getattr(self, kind)).type != AUTO}
