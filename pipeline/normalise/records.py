"""What an input format reads from one line or JSON item, before it becomes an ``Event``.

The normaliser turns these into events (series id, event time from the
timestamp, ingest time) and passes them through the ingest guard, the same
way for built-in and plugin formats.

>>> MetricPoint("cpu", {"host": "a"}, {"user": 1.5}).time is None
True
>>> LogLine("disk full", host="db-1", service="kernel", level="error").pid
''
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiops.detectors.core.errors import InputError


@dataclass(slots=True)
class MetricPoint:
    """A metric point: name, labels, numeric features and a timestamp (epoch number of any unit, ISO text, or
    None for "now")."""

    name: str
    labels: dict[str, str]
    features: dict[str, float]
    time: Any = None


@dataclass(slots=True)
class LogLine:
    """A log line: its message, where it comes from, its level (a word, letter or number) and timestamp."""

    message: str
    host: str = ""
    service: str = ""
    level: Any = None
    time: Any = None
    pid: str = ""


def json_document(text: str) -> Any:
    """One line of JSON decoded (``InputError`` saying where it is not JSON).

    >>> json_document('{"a": 1}')
    {'a': 1}
    >>> json_document('{"a": ')
    Traceback (most recent call last):
    ...
    aiops.detectors.core.errors.InputError: not JSON: Expecting value (column 7)
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (column {exc.colno})") from None
