"""Dead-letter records: what could not be used, why, and where it came from.

The original bytes travel as base64 (``original_b64``), plus as text
(``original_text``) when they are valid UTF-8, so a person can read them and
a tool can replay them exactly.

>>> record = dead_letter_record(b"cpu user=abc", "line 1: field value 'abc' is not a number",
...                             topic="metrics.raw", partition=0, offset=42, stage="normalise",
...                             now=1_700_000_000.0)
>>> parsed = parse_dead_letter(record)
>>> parsed["original"], parsed["original_text"], parsed["offset"], parsed["time_iso"]
(b'cpu user=abc', 'cpu user=abc', 42, '2023-11-14T22:13:20.000Z')
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiops.pipeline.errors import InputError
from aiops.pipeline.normalise.timestamps import iso

FORMAT_VERSION = 1
_REQUIRED = {"original_b64": str, "reason": str, "topic": str, "stage": str, "time": (int, float)}


class BadDeadLetter(InputError):
    """Bytes that are not a dead-letter record."""


def dead_letter_record(
    original: bytes,
    reason: str,
    *,
    topic: str,
    partition: int | None,
    offset: int | None,
    stage: str,
    now: float,
) -> bytes:
    """The JSON bytes of one dead-letter record."""
    record: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "stage": stage,
        "time": now,
        "time_iso": iso(now),
        "size": len(original),
        "original_b64": base64.b64encode(original).decode("ascii"),
    }
    try:
        record["original_text"] = original.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")


def parse_dead_letter(data: bytes) -> dict[str, Any]:
    """The record as a dict, with the original bytes decoded under ``original``."""
    try:
        record = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadDeadLetter(f"dead letter is not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise BadDeadLetter("dead letter must be a JSON object")
    for key, kind in _REQUIRED.items():
        if not isinstance(record.get(key), kind):
            raise BadDeadLetter(f"dead letter field {key!r} is missing or has the wrong type")
    try:
        record["original"] = base64.b64decode(record["original_b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadDeadLetter(f"dead letter 'original_b64' is not base64: {exc}") from None
    return record
