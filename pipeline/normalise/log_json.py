"""Log records decoded from JSON, as Vector, Fluent Bit, Filebeat and app loggers ship them.

Each attribute is looked up under the names those shippers use, flat
(``"host.name"``) or nested (``{"host": {"name": ...}}``); the first present wins.

>>> r = log_record({"@timestamp": "2026-11-22T10:00:00Z", "message": "disk full",
...                 "host": {"name": "web-1"}, "log": {"level": "ERROR"},
...                 "kubernetes": {"container_name": "api"}})
>>> r.host, r.service, r.level, r.time, r.message
('web-1', 'api', 'error', '2026-11-22T10:00:00Z', 'disk full')
>>> log_record({"log": "GET / 200", "date": 1763805600.25}).message
'GET / 200'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiops.detectors.core.errors import InputError
from aiops.pipeline.normalise.formats import NoParams
from aiops.pipeline.normalise.levels import normalise_level
from aiops.pipeline.normalise.records import LogLine, json_document


class BadLogRecord(InputError):
    """A JSON record that does not describe a log line."""


@dataclass(slots=True)
class LogRecord:
    """What one JSON log record says; empty strings where the record leaves a part out."""

    host: str
    service: str
    level: str
    time: Any  # the raw timestamp value, None when absent
    message: str
    pid: str = ""


MESSAGE_KEYS = ("message", "msg", "log", "@message", "MESSAGE")
HOST_KEYS = ("host", "hostname", "host.name", "host.hostname", "_HOSTNAME", "kubernetes.host")
SERVICE_KEYS = (
    "service", "app", "service.name", "program", "appname", "kubernetes.container_name",
    "SYSLOG_IDENTIFIER",
)
LEVEL_KEYS = ("level", "severity", "log.level", "lvl", "levelname", "loglevel", "PRIORITY")
TIME_KEYS = ("timestamp", "@timestamp", "time", "date", "ts")
PID_KEYS = ("pid", "process.pid", "_PID", "procid", "process_id")


def log_record(item: Any) -> LogRecord:
    """The host, service, level, raw timestamp and message of one decoded JSON record."""
    if not isinstance(item, dict):
        raise BadLogRecord(f"expected a JSON object, got {type(item).__name__}")
    message = _message(item)
    host = _text(item, HOST_KEYS)
    service = _text(item, SERVICE_KEYS)
    level = normalise_level(_lookup(item, LEVEL_KEYS, scalar=True))
    stamp = _lookup(item, TIME_KEYS, scalar=True)
    return LogRecord(host, service, level, stamp, message, _text(item, PID_KEYS))


def _message(item: dict[str, Any]) -> str:
    for key in MESSAGE_KEYS:
        value = item.get(key)
        if value is None or (key == "log" and isinstance(value, dict)):  # ECS: {"log": {"level": ..}}
            continue
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise BadLogRecord(f"message {key!r} must be text, got {type(value).__name__}")
    raise BadLogRecord("no message field (message, msg, log, @message)")


def _text(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    value = _lookup(item, keys, scalar=True)
    if value is None or isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value)


def _lookup(item: dict[str, Any], keys: tuple[str, ...], *, scalar: bool) -> Any:
    """The first value found under ``keys``: a flat key, or a dotted path into nested objects."""
    for key in keys:
        value = item.get(key)
        if value is None and "." in key:
            value = _nested(item, key.split("."))
        if value is None:
            continue
        if scalar and isinstance(value, (dict, list)):
            continue
        return value
    return None


def _nested(item: dict[str, Any], path: list[str]) -> Any:
    node: Any = item
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


class LogJsonFormat:
    """The ``log_json`` input format: JSON log records only (a document, an array, or one per line)."""

    kind = "logs"
    Params = NoParams

    def __init__(self, params: NoParams) -> None:
        self.params = params

    def parse_item(self, item: Any) -> LogLine:
        r = log_record(item)
        return LogLine(r.message, host=r.host, service=r.service, level=r.level, time=r.time, pid=r.pid)

    def parse_line(self, text: str, *, now: float, zone: Any) -> LogLine:
        return self.parse_item(json_document(text))
