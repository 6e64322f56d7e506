"""Ground truth of injected incidents: one JSON object per line.

A record is ``{"id", "kind", "series_id", "labels", "start", "end",
"features", "params"}``; ``start`` and ``end`` are epoch seconds (the event
times of the first and last affected point). ``series_id`` is the metric
series (``service|host=..,service=..``) for metric kinds and the log series
(``log|host=..,service=..``) for log and attack kinds, whose ``params`` also
name the log-count series (``count_series_id``).

>>> import io
>>> rec = {"id": "1", "kind": "spike", "series_id": "service|host=a,service=api",
...        "labels": {"host": "a", "service": "api"}, "start": 10.0, "end": 12.0,
...        "features": ["cpu"], "params": {}}
>>> buf = io.StringIO()
>>> write_records(buf, [rec])
>>> read_records(io.StringIO(buf.getvalue())) == [rec]
True
>>> check_record({"id": "1"})
Traceback (most recent call last):
...
aiops.detectors.core.errors.InputError: truth record 1: missing keys end, features, kind, labels, params, series_id, start
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Iterable

from aiops.detectors.core.errors import InputError

KEYS = ("id", "kind", "series_id", "labels", "start", "end", "features", "params")


def check_record(record: Any, where: str = "") -> dict[str, Any]:
    """Validate one record's shape; raise ``InputError`` naming what is wrong."""
    name = f"truth record {where or (record.get('id', '?') if isinstance(record, dict) else '?')}"
    if not isinstance(record, dict):
        raise InputError(f"{name}: not a JSON object")
    missing = sorted(set(KEYS) - set(record))
    if missing:
        raise InputError(f"{name}: missing keys {', '.join(missing)}")
    if not isinstance(record["start"], (int, float)) or not isinstance(record["end"], (int, float)):
        raise InputError(f"{name}: start and end must be numbers")
    if record["end"] < record["start"]:
        raise InputError(f"{name}: end {record['end']} is before start {record['start']}")
    if not isinstance(record["labels"], dict) or not isinstance(record["features"], list):
        raise InputError(f"{name}: labels must be an object and features a list")
    return record


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def write_records(stream: IO[str], records: Iterable[dict[str, Any]]) -> None:
    for record in records:
        stream.write(dumps(check_record(record)) + "\n")


def read_records(stream: IO[str]) -> list[dict[str, Any]]:
    """Parse JSONL records; blank lines are ignored, anything else bad raises ``InputError``."""
    out = []
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"truth line {number}: not JSON: {exc.msg}") from None
        out.append(check_record(record, where=f"on line {number}"))
    return out


def write_truth(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Write all records to a file, replacing it atomically."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("w") as stream:
        write_records(stream, records)
    tmp.replace(target)


def append_truth(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Append records to a file (so a reader can follow a live run)."""
    with Path(path).open("a") as stream:
        write_records(stream, records)


def merge_truth(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Rewrite the file with ``records`` in place of those of the same id, new ones at the end.

    A long or resumed run appends its incidents as they start and forgets them once written; at the end
    the ones it cut short (``truncated``) replace what was appended for them, and what earlier runs
    wrote stays.
    """
    final = {r["id"]: r for r in records}
    kept = read_truth(path) if Path(path).exists() else []
    merged = [final.pop(r["id"], r) for r in kept]
    write_truth(path, merged + list(final.values()))


def read_truth(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        with Path(path).open() as stream:
            return read_records(stream)
    except OSError as exc:
        raise InputError(f"cannot read truth file {str(path)!r}: {exc.strerror}") from None
