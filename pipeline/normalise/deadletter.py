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

A record stays well under Kafka's 1 MB default whatever it holds: past
``MAX_ORIGINAL_BYTES`` only the head of the original is kept (``truncated``,
with ``size`` and ``sha256`` of the whole; the source coordinates say where
to read it in full), and the reason is cut at ``MAX_REASON_CHARS``.

>>> big = parse_dead_letter(dead_letter_record(b"x" * 5_000_000, "too big", topic="logs.raw", partition=0,
...                                            offset=7, stage="normalise", now=0.0))
>>> big["truncated"], big["size"], len(big["original"]) == MAX_ORIGINAL_BYTES, big["sha256"][:12]
(True, 5000000, True, '03a7bd518f3e')
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from aiops.detectors.core.errors import InputError
from aiops.pipeline.normalise.timestamps import iso

FORMAT_VERSION = 1
#: The most of an original a record carries; with base64 and text it stays far below 1 MB.
MAX_ORIGINAL_BYTES = 128 * 1024
#: The longest reason kept (a reason may quote the input).
MAX_REASON_CHARS = 2000
#: A record whose JSON would be larger drops ``original_text`` (control characters escape to six bytes).
MAX_RECORD_BYTES = 512 * 1024
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
    """The JSON bytes of one dead-letter record, bounded in size (see the module's doc)."""
    kept = original[:MAX_ORIGINAL_BYTES]
    if len(reason) > MAX_REASON_CHARS:
        reason = f"{reason[:MAX_REASON_CHARS]}…[reason cut, {len(reason)} chars]"
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
        "original_b64": base64.b64encode(kept).decode("ascii"),
    }
    if len(kept) < len(original):
        record["truncated"] = True
        record["sha256"] = hashlib.sha256(original).hexdigest()
    try:
        record["original_text"] = kept.decode("utf-8")
    except UnicodeDecodeError:
        pass
    data = _encoded(record)
    if len(data) > MAX_RECORD_BYTES and "original_text" in record:
        del record["original_text"]
        data = _encoded(record)
    return data


def _encoded(record: dict[str, Any]) -> bytes:
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
