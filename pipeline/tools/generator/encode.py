"""Wire formats the generator speaks, as real shippers write them.

Metrics: InfluxDB line protocol (Telegraf's default) or Telegraf's JSON
serialiser in batch form (``{"metrics": [...]}``, integer timestamps in
milliseconds, as with ``json_timestamp_units = "1ms"``). Logs: Vector's JSON
records (one per line) or syslog lines, RFC 5424 or RFC 3164.

>>> line_protocol("service", {"host": "node-1", "service": "api"}, {"cpu": 12.5}, 1_700_000_000.0)
'service,host=node-1,service=api cpu=12.5 1700000000000000000'
>>> rfc3164(1_700_000_000.0, "node-1", "sshd", 812, "Accepted publickey for deploy", facility=10, severity=6)
'<86>Nov 14 22:13:20 node-1 sshd[812]: Accepted publickey for deploy'
>>> rfc5424(1_700_000_000.25, "node-1", "CRON", 99, "(root) CMD (run-parts /etc/cron.hourly)", facility=9)
'<78>1 2023-11-14T22:13:20.250000Z node-1 CRON 99 - - (root) CMD (run-parts /etc/cron.hourly)'
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

SEVERITY = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}
"""Syslog severities by the level names the application logs use."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _escape_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _field_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def line_protocol(measurement: str, tags: dict[str, str], fields: dict[str, Any], time_s: float) -> str:
    """One InfluxDB line-protocol line; tags sorted by key, timestamp in nanoseconds."""
    tag_part = "".join(f",{_escape_key(k)}={_escape_key(str(tags[k]))}" for k in sorted(tags))
    field_part = ",".join(f"{_escape_key(k)}={_field_value(v)}" for k, v in fields.items())
    return f"{_escape_measurement(measurement)}{tag_part} {field_part} {round(time_s * 1e9)}"


def telegraf_metric(measurement: str, tags: dict[str, str], fields: dict[str, Any], time_s: float) -> dict[str, Any]:
    """One metric as Telegraf's JSON serialiser writes it (timestamp in ms).

    >>> telegraf_metric("service", {"host": "a"}, {"cpu": 1.0}, 1.5)
    {'fields': {'cpu': 1.0}, 'name': 'service', 'tags': {'host': 'a'}, 'timestamp': 1500}
    """
    return {"fields": dict(fields), "name": measurement, "tags": dict(tags), "timestamp": round(time_s * 1000)}


def telegraf_batch(metrics: list[dict[str, Any]]) -> bytes:
    """Telegraf's batch JSON payload: ``{"metrics": [...]}``."""
    return json.dumps({"metrics": metrics}, separators=(",", ":")).encode()


def rfc3339(time_s: float) -> str:
    """UTC timestamp with microseconds, as Vector writes it.

    >>> rfc3339(0.5)
    '1970-01-01T00:00:00.500000Z'
    """
    return datetime.fromtimestamp(time_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def vector_record(time_s: float, host: str, service: str, level: str, message: str) -> str:
    """One application log record as Vector ships it (JSON, one per line)."""
    record = {"timestamp": rfc3339(time_s), "host": host, "service": service, "level": level, "message": message}
    return json.dumps(record, separators=(",", ":"))


def rfc5424(
    time_s: float, host: str, app: str, pid: int, message: str, *, facility: int = 1, severity: int = 6
) -> str:
    """An RFC 5424 syslog line without structured data (``-``)."""
    return f"<{facility * 8 + severity}>1 {rfc3339(time_s)} {host} {app} {pid} - - {message}"


def rfc3164(
    time_s: float, host: str, app: str, pid: int, message: str, *, facility: int = 1, severity: int = 6
) -> str:
    """A BSD (RFC 3164) syslog line: ``<PRI>Mmm dd hh:mm:ss host app[pid]: msg``."""
    ts = datetime.fromtimestamp(time_s, tz=timezone.utc)
    stamp = f"{_MONTHS[ts.month - 1]} {ts.day:2d} {ts:%H:%M:%S}"
    return f"<{facility * 8 + severity}>{stamp} {host} {app}[{pid}]: {message}"


def join_lines(lines: list[str]) -> bytes:
    """Several records in one Kafka message, newline separated (Telegraf, Vector, rsyslog batches)."""
    return "\n".join(lines).encode()
