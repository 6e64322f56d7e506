"""The session broker under this folder's name, and strict wire-format checks for the generated messages."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Callable

import pytest


@pytest.fixture
def tansu_broker(broker):
    """The session's embedded broker (tests/conftest.py); these tests create their own topics on it."""
    return broker


# --- strict wire-format checks, written from the formats' specifications -------------------------

LINE_PROTOCOL = re.compile(
    r"^(?P<measurement>[A-Za-z0-9_.-]+)"
    r"(?P<tags>(?:,[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]+)*)"
    r" (?P<fields>[A-Za-z0-9_.-]+=[-+0-9.eE]+(?:,[A-Za-z0-9_.-]+=[-+0-9.eE]+)*)"
    r" (?P<ts>[0-9]{19})$"
)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\d+|-) (?P<msgid>\S+) (?P<sd>-|\[.*?\]) "
    r"(?P<msg>.*)$"
)
RFC3164 = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<day>[ 1-3]\d) "
    r"(?P<hms>\d\d:\d\d:\d\d) (?P<host>\S+) (?P<app>[^\s\[:]+)\[(?P<pid>\d+)\]: (?P<msg>.*)$"
)
SEVERITY_NAMES = {0: "emerg", 1: "alert", 2: "crit", 3: "error", 4: "warn", 5: "notice", 6: "info", 7: "debug"}


def _number(text: str) -> float:
    value = float(text)
    assert math.isfinite(value), text
    return value


def parse_metrics_message(value: bytes) -> tuple[str, list[dict[str, Any]]]:
    """('influx' | 'json', points); each point {'name', 'tags', 'fields', 'time'} (time in seconds)."""
    text = value.decode("utf-8")
    if text.startswith("{"):
        data = json.loads(text)
        assert set(data) == {"metrics"} and isinstance(data["metrics"], list) and data["metrics"]
        points = []
        for item in data["metrics"]:
            assert set(item) == {"name", "tags", "fields", "timestamp"}, item
            assert isinstance(item["name"], str) and isinstance(item["timestamp"], int)
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in item["tags"].items())
            assert item["fields"] and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                          for v in item["fields"].values())
            points.append({"name": item["name"], "tags": item["tags"], "fields": item["fields"],
                           "time": item["timestamp"] / 1000.0})
        return "json", points
    points = []
    for line in text.split("\n"):
        match = LINE_PROTOCOL.match(line)
        assert match, f"not line protocol: {line!r}"
        tags = dict(part.split("=", 1) for part in match["tags"].split(",")[1:])
        fields = {k: _number(v) for k, v in (part.split("=", 1) for part in match["fields"].split(","))}
        points.append({"name": match["measurement"], "tags": tags, "fields": fields, "time": int(match["ts"]) / 1e9})
    return "influx", points


def _utc(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def parse_logs_message(value: bytes, *, year: int) -> tuple[str, list[dict[str, Any]]]:
    """('json' | 'rfc5424' | 'rfc3164', records); each {'time', 'host', 'service', 'level', 'message'}."""
    lines = value.decode("utf-8").split("\n")
    first = lines[0]
    records = []
    if first.startswith("{"):
        for line in lines:
            item = json.loads(line)
            assert set(item) == {"timestamp", "host", "service", "level", "message"}, item
            assert RFC3339.match(item["timestamp"]), item["timestamp"]
            assert item["level"] in {"debug", "info", "warn", "error"}
            records.append({**item, "time": _utc(item["timestamp"])})
        return "json", records
    fmt = "rfc5424" if RFC5424.match(first) else "rfc3164"
    for line in lines:
        match = (RFC5424 if fmt == "rfc5424" else RFC3164).match(line)
        assert match, f"not {fmt}: {line!r}"
        pri = int(match["pri"])
        assert 0 <= pri <= 191
        if fmt == "rfc5424":
            assert RFC3339.match(match["ts"]), match["ts"]
            when = _utc(match["ts"])
        else:
            stamp = datetime.strptime(f"{year} {match['mon']} {match['day'].strip()} {match['hms']}", "%Y %b %d %H:%M:%S")
            when = stamp.replace(tzinfo=timezone.utc).timestamp()
        records.append({"time": when, "host": match["host"], "service": match["app"],
                        "level": SEVERITY_NAMES[pri % 8], "message": match["msg"], "facility": pri // 8})
    return fmt, records


def parse_message(topic: str, value: bytes, *, year: int = 2023) -> tuple[str, list[dict[str, Any]]]:
    if topic == "metrics.raw":
        return parse_metrics_message(value)
    assert topic == "logs.raw", topic
    return parse_logs_message(value, year=year)


@pytest.fixture(scope="session")
def wire() -> Callable[..., tuple[str, list[dict[str, Any]]]]:
    """The strict parser of one generated Kafka message: ``wire(topic, value) -> (format, records)``."""
    return parse_message
