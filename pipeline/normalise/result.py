"""What one normalised Kafka message gives: events, rejects and a count of skipped items.

>>> r = NormaliseResult()
>>> r.rejects.append(Reject("line 1: no fields", b"cpu"))
>>> r.skipped, len(r.rejects)
(0, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiops.detectors.core.shapes import Event


@dataclass(slots=True)
class Reject:
    """One bad item (a line, an array item) or a whole bad payload, with why."""

    reason: str
    fragment: bytes
    reason_class: str = "parse"  #: one of ``guard.REASON_CLASSES``; the counter this reject adds to


@dataclass(slots=True)
class NormaliseResult:
    """The good events of a payload, one reject per bad item, and how many were skipped.

    ``skipped`` counts items dropped on purpose: exact duplicates, and a
    payload holding nothing at all (empty, blank lines, comments only).
    """

    events: list[Event] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: int = 0
