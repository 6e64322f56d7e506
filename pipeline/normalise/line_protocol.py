r"""InfluxDB line protocol, one line at a time, with its full escaping rules.

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``

Measurements escape commas and spaces; tag keys, tag values and field keys
escape commas, equals signs and spaces; string field values escape double
quotes and backslashes. Field types: float (``1.5``, ``-2e3``), integer
(``3i``), unsigned (``3u``), boolean (``t``/``true``/``F``/``FALSE``...) and
string (``"text"``, kept out of the numeric features).

>>> parse_line('cpu,host=web-1,cpu=cpu0 usage_user=12.5,usage_idle=80i,up=t 1700000000000000000')
('cpu', {'host': 'web-1', 'cpu': 'cpu0'}, {'usage_user': 12.5, 'usage_idle': 80.0, 'up': 1.0}, 1700000000000000000)
>>> parse_line(r'disk\ io,path=C:\\data\,x free=1 ')
('disk io', {'path': 'C:\\\\data,x'}, {'free': 1.0}, None)
>>> try:
...     parse_line('cpu load=abc')
... except InputError as exc:
...     print(exc)
field value 'abc' is not a number
"""

from __future__ import annotations

import re

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.normalise.formats import NoParams
from aiops.pipeline.normalise.records import MetricPoint


class BadLine(InputError):
    """A line that is not valid line protocol."""


ParsedLine = tuple[str, dict[str, str], dict[str, float], int | None]
SeriesLine = tuple[str, str, dict[str, str], dict[str, float], int | None]

_HEAD_CACHE_SIZE = 50_000
_HEADS: dict[str, tuple[str, str, dict[str, str]]] = {}
_DIGITS = frozenset("0123456789.")
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
_FLOAT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
_UINT = re.compile(r"\d+")


def parse_line(line: str) -> ParsedLine:
    """Measurement, tags, numeric fields and the raw timestamp (or None) of one line."""
    return parse_series_line(line)[1:]


def parse_series_line(line: str) -> SeriesLine:
    """Like ``parse_line``, with the series id (``series_id_for(measurement, tags)``) first.

    >>> parse_series_line("cpu,host=a,cpu=0 u=1")[:3]
    ('cpu|cpu=0,host=a', 'cpu', {'host': 'a', 'cpu': '0'})
    """
    if "\\" not in line and '"' not in line:
        parsed = parse_plain(line)
        if parsed is not None:
            return parsed
    name, tags, fields, stamp = _parse_escaped(line)
    return series_id_for(name, tags), name, tags, fields, stamp


def field_value(raw: str) -> float | None:
    """The numeric value of an unquoted field value; None is never returned for numbers.

    >>> [field_value(v) for v in ("1.5", "-3i", "7u", "TRUE", "f")]
    [1.5, -3.0, 7.0, 1.0, 0.0]
    """
    if not raw:
        raise BadLine("field has no value")
    last = raw[-1]
    if last in _DIGITS and "_" not in raw and raw.isascii():
        try:
            return float(raw)
        except ValueError:
            raise BadLine(f"field value {_short(raw)} is not a number") from None
    if last == "i" and _INT.fullmatch(raw, 0, len(raw) - 1):
        return float(int(raw[:-1]))
    if last == "u" and _UINT.fullmatch(raw, 0, len(raw) - 1):
        return float(int(raw[:-1]))
    if raw in _TRUE:
        return 1.0
    if raw in _FALSE:
        return 0.0
    if _FLOAT.fullmatch(raw):
        return float(raw)
    raise BadLine(f"field value {_short(raw)} is not a number")


def parse_plain(line: str) -> SeriesLine | None:
    """The fast path for lines without escapes or strings; None sends a line to the full parser.

    >>> parse_plain("cpu,host=a u=1,s=2i 1700000000000000000")
    ('cpu|host=a', 'cpu', {'host': 'a'}, {'u': 1.0, 's': 2.0}, 1700000000000000000)
    >>> parse_plain('cpu,host=a u=1 2 3') is None, parse_plain("cpu") is None
    (True, True)
    """
    parts = line.split(" ")
    if len(parts) not in (2, 3):
        return None
    head = plain_head(parts[0])
    if head is None:
        return None
    series_id, name, tags = head
    fields: dict[str, float] = {}
    for pair in parts[1].split(","):
        key, sep, raw = pair.partition("=")
        if not key or not sep or not raw or "=" in raw:
            return None
        if raw[-1] in _DIGITS and raw.isascii() and "_" not in raw:
            try:
                fields[key] = float(raw)
                continue
            except ValueError:
                pass
        fields[key] = field_value(raw)
    if not fields:
        return None
    stamp = _timestamp(parts[2]) if len(parts) == 3 else None
    return series_id, name, dict(tags), fields, stamp


def plain_head(head: str) -> tuple[str, str, dict[str, str]] | None:
    """Series id, measurement and tags of an unescaped ``measurement,tag=value...``, memoised.

    A fleet repeats the same few heads line after line; the cache holds up to
    ``_HEAD_CACHE_SIZE`` of them and starts afresh when full.
    """
    cached = _HEADS.get(head)
    if cached is not None:
        return cached
    pairs = head.split(",")
    name = pairs[0]
    if not name:
        return None
    tags: dict[str, str] = {}
    for pair in pairs[1:]:
        key, sep, value = pair.partition("=")
        if not key or not value or not sep:
            return None
        tags[key] = value
    if len(_HEADS) >= _HEAD_CACHE_SIZE:
        _HEADS.clear()
    cached = _HEADS[head] = (series_id_for(name, tags), name, tags)
    return cached


def plain_heads(heads: list[str]) -> list[tuple[str, str, dict[str, str]]] | None:
    """``plain_head`` of each head (the cached ones looked up at once); None when one is not a plain head.

    >>> [sid for sid, _, _ in plain_heads(["cpu,host=a", "mem"])], plain_heads(["cpu,host"])
    (['cpu|host=a', 'mem'], None)
    """
    found = list(map(_HEADS.get, heads))
    if None in found:
        found = list(map(plain_head, heads))
        if None in found:
            return None
    return found  # type: ignore[return-value]


def _parse_escaped(line: str) -> ParsedLine:
    """The full parser: escapes, quoted strings, and a precise reason for every error."""
    end = len(line)
    name, i = _scan(line, 0, ", ", ", ")
    if not name:
        raise BadLine("measurement name is empty")
    tags: dict[str, str] = {}
    while i < end and line[i] == ",":
        key, i = _scan(line, i + 1, ",= ", ",= ")
        if not key:
            raise BadLine("tag key is empty")
        if i >= end or line[i] != "=":
            raise BadLine(f"tag {key!r} has no value")
        value, i = _scan(line, i + 1, ", ", ",= ")
        if not value:
            raise BadLine(f"tag {key!r} has no value")
        tags[key] = value
    if i >= end:
        raise BadLine(f"measurement {name!r} has no fields")
    fields, strings, i = _scan_fields(line, i + 1)
    if not fields:
        if strings:
            raise BadLine(f"no numeric field (only text fields: {', '.join(strings)[:80]})")
        raise BadLine(f"measurement {name!r} has no fields")
    stamp = _timestamp(line[i + 1 :]) if i < end else None
    return name, tags, fields, stamp


def _scan_fields(line: str, i: int) -> tuple[dict[str, float], list[str], int]:
    fields: dict[str, float] = {}
    strings: list[str] = []
    end = len(line)
    while True:
        key, i = _scan(line, i, ",= ", ",= ")
        if not key:
            raise BadLine("field key is empty" if i < end else "no fields")
        if i >= end or line[i] != "=":
            raise BadLine(f"field {key!r} has no value")
        i += 1
        if i < end and line[i] == '"':
            i = _skip_string(line, i + 1, key)
            strings.append(key)
        else:
            start = i
            while i < end and line[i] not in ", ":
                i += 1
            if i == start:
                raise BadLine(f"field {key!r} has no value")
            fields[key] = field_value(line[start:i])
        if i >= end or line[i] == " ":
            return fields, strings, i
        i += 1  # a comma: the next field


def _skip_string(line: str, i: int, key: str) -> int:
    """Index just past the closing quote of a string field value starting at ``i``."""
    end = len(line)
    while i < end:
        char = line[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i + 1
        i += 1
    raise BadLine(f"string field {key!r} has no closing quote")


def _scan(line: str, i: int, stops: str, escapable: str) -> tuple[str, int]:
    """Text from ``i`` up to the first unescaped stop character, escapes removed."""
    out: list[str] = []
    start = i
    end = len(line)
    while i < end:
        char = line[i]
        if char == "\\" and i + 1 < end and line[i + 1] in escapable:
            out.append(line[start:i])
            out.append(line[i + 1])
            i += 2
            start = i
            continue
        if char in stops:
            break
        i += 1
    out.append(line[start:i])
    return "".join(out), i


def _timestamp(raw: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if text.isdigit() and text.isascii():  # the common case, without the pattern
        return int(text)
    if not _INT.fullmatch(text):
        raise BadLine(f"timestamp {_short(text)} is not an integer")
    return int(text)


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class LineProtocolFormat:
    """The ``line_protocol`` input format: every line is InfluxDB line protocol."""

    kind = "metrics"
    Params = NoParams

    def __init__(self, params: NoParams) -> None:
        self.params = params

    def parse_line(self, text: str, *, now: float, zone: object) -> MetricPoint:
        return MetricPoint(*parse_line(text))
