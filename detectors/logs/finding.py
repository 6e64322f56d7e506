"""What a log or security detector reports about one event or window, before it becomes an ``Anomaly``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Finding:
    """One detector's verdict: kind, calibrated score, a readable sentence and the numbers behind it.

    ``time`` is the event time for a line finding, the window end for a window
    finding; ``key`` makes the id unique among findings of one kind at one time.
    """

    kind: str
    detector: str
    score: float
    threshold: float
    reason: str
    time: float
    values: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    key: str = ""
