"""Event times from what producers send: epoch numbers of any unit, or ISO 8601 text.

An epoch number's unit is inferred from its magnitude (seconds up to 1e11,
then milliseconds, microseconds, nanoseconds), so Telegraf's seconds,
JavaScript's milliseconds and line protocol's nanoseconds all land right.
Naive ISO times are read in the given zone (UTC unless configured).

>>> epoch_seconds(1_700_000_000_123)
1700000000.123
>>> parse_time("2023-11-14T22:13:20.5+01:00")
1699996400.5
>>> parse_time("2023-11-14 22:13:20")
1700000000.0
>>> try:
...     parse_time("yesterday")
... except InputError as exc:
...     print(exc)
timestamp 'yesterday' is not epoch seconds/ms/us/ns nor ISO 8601
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, tzinfo

from aiops.detectors.core.errors import InputError


class BadTimestamp(InputError):
    """A timestamp that cannot be read as a point in time."""


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_SECONDS_BELOW = 1e11  # year 5138 in seconds; 1973 in milliseconds
_MILLIS_BELOW = 1e14
_MICROS_BELOW = 1e17
_OUT_OF_RANGE = 1e20  # year 5138 in nanoseconds


def epoch_seconds(value: float | int) -> float:
    """Seconds since the epoch from a number in s, ms, us or ns (by magnitude)."""
    if type(value) is int and _MICROS_BELOW <= value < _OUT_OF_RANGE:  # integer nanoseconds: line protocol's own
        whole, rest = divmod(value, 1_000_000_000)
        return whole + rest / 1e9
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadTimestamp(f"timestamp {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadTimestamp(f"timestamp {value!r} is not finite")
    size = abs(value)
    if size >= _OUT_OF_RANGE:
        raise BadTimestamp(f"timestamp {value!r} is out of range")
    if size < _SECONDS_BELOW:
        return float(value)
    if size < _MILLIS_BELOW:
        return value / 1e3
    if size < _MICROS_BELOW:
        return value / 1e6
    if isinstance(value, int):
        # integer division first keeps nanosecond epochs exact to the microsecond
        whole, rest = divmod(value, 1_000_000_000)
        return whole + rest / 1e9
    return value / 1e9


def parse_iso(text: str, zone: tzinfo = UTC) -> float:
    """Seconds since the epoch from ISO 8601 text; a naive time is read in ``zone``."""
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        raise BadTimestamp(
            f"timestamp {text[:64]!r} is not epoch seconds/ms/us/ns nor ISO 8601"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def parse_time(value: object, zone: tzinfo = UTC) -> float:
    """Seconds since the epoch from a JSON value: a number, a numeric string or ISO text."""
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return epoch_seconds(int(text) if _INTEGER.fullmatch(text) else float(text))
        return parse_iso(text, zone)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return epoch_seconds(value)
    raise BadTimestamp(f"timestamp {value!r} is not a number or text")


def iso(seconds: float) -> str:
    """A short UTC ISO rendering used in reject reasons.

    >>> iso(1_700_000_000.25)
    '2023-11-14T22:13:20.250Z'
    """
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds!r} s since epoch"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
