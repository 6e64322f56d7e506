"""Metric records decoded from JSON: Telegraf's serializer and a simple one-value form.

Telegraf: ``{"name": "cpu", "tags": {...}, "fields": {...}, "timestamp": 1700000000}``.
Simple: ``{"metric": "cpu.user", "value": 1.2, "host": "web-1", "labels": {...}, "ts": ...}``;
every other numeric top-level value becomes a feature too. Booleans count as
0/1, text values are left out, and a record with no numeric value is refused.

>>> metric_record({"name": "cpu", "tags": {"host": "a"}, "fields": {"user": 1.5, "ok": True, "s": "x"},
...                "timestamp": 1700000000})
('cpu', {'host': 'a'}, {'user': 1.5, 'ok': 1.0}, 1700000000)
>>> metric_record({"metric": "cpu.user", "value": "0.5", "host": "a", "labels": {"dc": "eu"}})
('cpu.user', {'dc': 'eu', 'host': 'a'}, {'value': 0.5}, None)
"""

from __future__ import annotations

from typing import Any

from aiops.detectors.core.errors import InputError
from aiops.pipeline.normalise.formats import NoParams
from aiops.pipeline.normalise.records import MetricPoint, json_document


class BadRecord(InputError):
    """A JSON record that does not describe a metric point."""


MetricRecord = tuple[str, dict[str, str], dict[str, float], Any]

NAME_KEYS = ("name", "metric", "measurement", "__name__")
TIME_KEYS = ("timestamp", "time", "ts", "@timestamp")
LABEL_KEYS = ("tags", "labels")
LABEL_FIELDS = ("host", "service")
_NOT_FEATURES = frozenset(NAME_KEYS + TIME_KEYS + LABEL_KEYS + LABEL_FIELDS + ("fields",))


def metric_record(item: Any) -> MetricRecord:
    """Name, labels, numeric features and the raw timestamp value (None when absent)."""
    if not isinstance(item, dict):
        raise BadRecord(f"expected a JSON object, got {_kind(item)}")
    name = _name(item)
    labels = _labels(item)
    fields = item.get("fields")
    if fields is not None:
        if not isinstance(fields, dict):
            raise BadRecord(f"'fields' must be an object, got {_kind(fields)}")
        features = _features(fields.items())
    else:
        features = _features((k, v) for k, v in item.items() if k not in _NOT_FEATURES)
    if not features:
        raise BadRecord(f"metric {name!r} has no numeric field")
    stamp = next((item[k] for k in TIME_KEYS if k in item and item[k] is not None), None)
    return name, labels, features, stamp


def _name(item: dict[str, Any]) -> str:
    for key in NAME_KEYS:
        value = item.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise BadRecord(f"metric name {key!r} must be non-empty text, got {value!r:.40}")
            return value
    raise BadRecord("no metric name (name, metric, measurement)")


def _labels(item: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key in LABEL_KEYS:
        given = item.get(key)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise BadRecord(f"{key!r} must be an object of text values, got {_kind(given)}")
        if all(type(value) is str for value in given.values()):
            labels.update(given)
            continue
        for name, value in given.items():
            labels[name] = _label_text(name, value)
    for key in LABEL_FIELDS:
        value = item.get(key)
        if value is not None:
            labels[key] = _label_text(key, value)
    if "" in labels.values():
        return {k: v for k, v in labels.items() if v != ""}
    return labels


def _label_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    raise BadRecord(f"label {name!r} must be text, got {_kind(value)}")


def _features(pairs: Any) -> dict[str, float]:
    features: dict[str, float] = {}
    for key, value in pairs:
        kind = type(value)
        if kind is float:
            features[key] = value
        elif kind is bool:
            features[key] = 1.0 if value else 0.0
        elif isinstance(value, (int, float)):
            try:
                features[key] = float(value)
            except OverflowError:
                raise BadRecord(f"field {key!r} value is too large for a float") from None
        elif key == "value" and isinstance(value, str):
            features[key] = _numeric_text(value)
    return features


def _numeric_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadRecord(f"field value {text[:40]!r} is not a number") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "text", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


class MetricJsonFormat:
    """The ``metric_json`` input format: JSON metric records only (a document, an array, or one per line)."""

    kind = "metrics"
    Params = NoParams

    def __init__(self, params: NoParams) -> None:
        self.params = params

    def parse_item(self, item: Any) -> MetricPoint:
        return MetricPoint(*metric_record(item))

    def parse_line(self, text: str, *, now: float, zone: Any) -> MetricPoint:
        return self.parse_item(json_document(text))
