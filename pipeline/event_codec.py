"""Records of the events topic: many events in one JSON record, column by column.

A record is one JSON object with a list per field of ``Event`` (``v`` is
the format's version)::

    {"v": 1, "source": ["metric", ...], "series_id": [...], "labels": [...],
     "time": [...], "features": [...], "ingest_time": [...]}

The optional fields (``message``, ``level``, ``template_id``, ``template``,
``params``) are columns only when an event of the record has them, with
``null`` for the others. Columns cost one JSON object per record instead of
one per event, which is most of what encoding and decoding cost. Records of
the earlier form (a JSON array of event objects) and control items (a JSON
array of objects with a ``control`` key, e.g. feedback) are still read.

>>> e = Event("metric", "cpu|host=a", {"host": "a"}, 1.0, {"v": 2.0})
>>> encode_events([e])
b'{"v":1,"source":["metric"],"series_id":["cpu|host=a"],"labels":[{"host":"a"}],"time":[1.0],"features":[{"v":2.0}],"ingest_time":[0.0]}'
>>> decode_batch(encode_events([e, e])) == ([e, e], [])
True
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

import orjson

from aiops.detectors.core.shapes import Event

#: The version of the column form this module writes (and the only one it reads besides the array form).
VERSION = 1
_REQUIRED = ("source", "series_id", "labels", "time", "features", "ingest_time")
_OPTIONAL = ("message", "level", "template_id", "template", "params")
_COLUMNS = frozenset(("v", *_REQUIRED, *_OPTIONAL))
_SOURCE, _SERIES_ID, _LABELS, _TIME, _FEATURES, _INGEST_TIME = map(attrgetter, _REQUIRED)
_OPTIONAL_GETTERS = [(name, attrgetter(name)) for name in _OPTIONAL]


def dump_json(value: Any) -> bytes:
    """Compact JSON: orjson on the hot path, the standard library for what orjson refuses.

    orjson is several times faster; it refuses lone surrogates (a JSON log line may carry one) and
    integers beyond 64 bits, which ``json`` writes. (It would write NaN as null: events never hold
    one, the ingest guard admits finite numbers only.)

    >>> dump_json({"a": [1, 2.5]})
    b'{"a":[1,2.5]}'
    >>> load_json(dump_json({"m": chr(0xD800), "n": 2 ** 70})) == {"m": chr(0xD800), "n": 2 ** 70}
    True
    """
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":")).encode()


def load_json(payload: bytes) -> Any:
    """JSON from bytes: orjson, and the standard library for what orjson refuses (NaN, Infinity).

    Raises ValueError on what is not JSON.

    >>> load_json(b'[1, {"a": "b"}]'), load_json(b'[NaN]')
    ([1, {'a': 'b'}], [nan])
    """
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:  # a ValueError
        return json.loads(payload)


def encode_events(events: list[Event]) -> bytes:
    """Several events in one Kafka record (the events topic is batched, like Telegraf's output).

    >>> log = Event("log", "log|host=a", {"host": "a"}, 1.0, {}, message="disk full", level="error")
    >>> sorted(load_json(encode_events([log, Event("metric", "m", {}, 2.0, {"v": 1.0})])))[:4]
    ['features', 'ingest_time', 'labels', 'level']
    >>> load_json(encode_events([log, Event("metric", "m", {}, 2.0, {"v": 1.0})]))["message"]
    ['disk full', None]
    """
    data: dict[str, Any] = {  # each column in one pass at C speed: this runs for every event the worker reads
        "v": VERSION,
        "source": list(map(_SOURCE, events)),
        "series_id": list(map(_SERIES_ID, events)),
        "labels": list(map(_LABELS, events)),
        "time": list(map(_TIME, events)),
        "features": list(map(_FEATURES, events)),
        "ingest_time": list(map(_INGEST_TIME, events)),
    }
    for name, get in _OPTIONAL_GETTERS:
        column = list(map(get, events))
        if column.count(None) != len(column):
            data[name] = column
    return dump_json(data)


def event_records(events: list[Event], *, max_events: int, max_bytes: int) -> list[bytes]:
    """The events in records of at most ``max_events`` events and ``max_bytes`` bytes, in order.

    A run of ``max_events`` is encoded at once (the common case); only a run
    over ``max_bytes`` is split by size. A single event larger than
    ``max_bytes`` is a record of its own (the caller refuses to send it).

    >>> e = Event("metric", "cpu|host=a", {"host": "a"}, 1.0, {"v": 2.0})
    >>> one = len(encode_events([e]))
    >>> [len(decode_batch(r)[0]) for r in event_records([e] * 5, max_events=2, max_bytes=10_000)]
    [2, 2, 1]
    >>> records = event_records([e] * 5, max_events=100, max_bytes=2 * one)
    >>> [len(decode_batch(r)[0]) for r in records], max(map(len, records)) <= 2 * one
    ([3, 2], True)
    """
    records: list[bytes] = []
    for i in range(0, len(events), max_events):
        records.extend(_within(events[i:i + max_events], max_bytes))
    return records


def _within(events: list[Event], max_bytes: int) -> list[bytes]:
    """``events`` as one record, or (over ``max_bytes``) as the fewest records greedy halving finds."""
    record = encode_events(events)
    if len(record) <= max_bytes or len(events) == 1:
        return [record]
    # as many events as fit at the size per event this record has, then the rest the same way
    fit = max(1, min(len(events) - 1, len(events) * max_bytes // len(record)))
    while fit > 1 and len(encode_events(events[:fit])) > max_bytes:
        fit = fit * 3 // 4
    return [encode_events(events[:fit])] + _within(events[fit:], max_bytes)


def encode_controls(controls: list[dict]) -> bytes:
    """Control items (e.g. feedback for a series) travel on the events topic to the series' owner."""
    return json.dumps(controls, separators=(",", ":"), default=str).encode()


def decode_batch(payload: bytes) -> tuple[list[Event], list[dict]]:
    """Events and control items of one events-topic record.

    Raises ValueError/TypeError/KeyError on a foreign payload.

    >>> e = Event("metric", "cpu|host=a", {"host": "a"}, 1.0, {"v": 2.0})
    >>> decode_batch(b'[' + dump_json(e.to_dict()) + b']') == ([e], [])
    True
    >>> decode_batch(encode_controls([{"control": "feedback", "record": {}}]))[1][0]["control"]
    'feedback'
    >>> decode_batch(b'{"v":1,"source":["metric"],"series_id":[]}')
    Traceback (most recent call last):
    ...
    ValueError: events record columns differ in length or miss one of source, series_id, labels, time, features, ingest_time
    """
    data = load_json(payload)
    if isinstance(data, dict):
        return _from_columns(data), []
    if not isinstance(data, list):
        raise ValueError("events record must be a JSON object of columns or a JSON array")
    events, controls = [], []
    for item in data:
        if not isinstance(item, dict):
            raise TypeError(f"events record holds a {type(item).__name__}, not an object")
        if "control" in item:
            controls.append(item)
        else:
            events.append(Event.from_dict(item))
    return events, controls


def _from_columns(data: dict[str, Any]) -> list[Event]:
    if data.get("v") != VERSION:
        raise ValueError(f"events record of version {data.get('v')!r}; this worker reads version {VERSION}")
    if not data.keys() <= _COLUMNS:
        raise ValueError(f"events record has unknown columns: {', '.join(sorted(data.keys() - _COLUMNS))[:200]}")
    columns = [data.get(name) for name in _REQUIRED]
    n = len(columns[1]) if isinstance(columns[1], list) else -1
    if not all(isinstance(c, list) and len(c) == n for c in columns):
        raise ValueError(f"events record columns differ in length or miss one of {', '.join(_REQUIRED)}")
    source, series_id, labels, times, features, ingest = columns
    optional = [data.get(name) for name in _OPTIONAL]
    optional = [[None] * n if c is None else c for c in optional]
    if not all(isinstance(c, list) and len(c) == n for c in optional):
        raise ValueError("events record columns differ in length")
    return list(map(Event, source, series_id, labels, times, features, *optional, ingest))
