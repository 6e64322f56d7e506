"""Template-frequency anomalies: per-window count vectors of one source.

Lines are counted per template in fixed windows of event time. When a window
closes (a line of a later window arrives, or the clock passes its end plus
the allowed lateness), each template's count is scored against that
template's running mean and variance over past windows (Poisson-floored
z-score), then learned. Windows without any line are not observed. The
closed window's counts are also returned as a vector (one feature per
frequent template plus ``other`` and ``total``) for the main scoring engine.

>>> from aiops.detectors.logs.config import TemplateFrequencyConfig
>>> d = TemplateFrequencyDetector(TemplateFrequencyConfig(window_s=10, warmup_windows=3))
>>> closed = []
>>> for w in range(5):
...     for i in range(4): closed += d.add("t1", w * 10 + i)
>>> for i in range(60): closed += d.add("t1", 50 + i * 0.1)
>>> closed += d.close_until(100.0)
>>> [len(c.findings) for c in closed], closed[-1].counts["t1"]
([0, 0, 0, 0, 0, 1], 60)
>>> closed[-1].findings[0].kind, sorted(closed[-1].vector)
('template_frequency', ['other', 't1', 'total'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aiops.detectors.logs.config import TemplateFrequencyConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import Ewm, exceedance_score

MAX_TEMPLATES = 1000


@dataclass(slots=True)
class ClosedWindow:
    """One closed window of a source: counts, what fired, and the vector for the metric event."""

    start: float
    end: float
    counts: dict[str, int]
    findings: list[Finding] = field(default_factory=list)
    vector: dict[str, float] = field(default_factory=dict)


class TemplateFrequencyDetector:
    """Counts templates per window; scores every closed window's counts against history."""

    name = "template_frequency"
    Config = TemplateFrequencyConfig  # its settings, under logs.template_frequency

    def __init__(self, config: TemplateFrequencyConfig) -> None:
        self.config = config
        self.window_start: float | None = None
        self.counts: dict[str, int] = {}
        self.history: dict[str, Ewm] = {}
        self.totals: dict[str, int] = {}
        self.windows = 0
        self.names: dict[str, str] = {}

    def add(self, template_id: str, time: float, *, template: str = "") -> list[ClosedWindow]:
        """Count one line; returns the window it closed, if any."""
        width = self.config.window_s
        start = math.floor(time / width) * width
        closed: list[ClosedWindow] = []
        if self.window_start is None:
            self.window_start = start
        elif start > self.window_start:
            closed.append(self._close())
            self.window_start = start
        # a late line of an already closed window counts in the current one
        self.counts[template_id] = self.counts.get(template_id, 0) + 1
        if template:
            self.names[template_id] = template
        return closed

    def close_until(self, now: float) -> list[ClosedWindow]:
        """Close the open window if the clock is past its end plus the lateness."""
        if self.window_start is None or not self.counts:
            return []
        if now < self.window_start + self.config.window_s + self.config.lateness_s:
            return []
        closed = self._close()
        self.window_start = None
        return [closed]

    def _close(self) -> ClosedWindow:
        cfg = self.config
        start = float(self.window_start or 0.0)
        window = ClosedWindow(start=start, end=start + cfg.window_s, counts=dict(self.counts))
        for template_id, count in self.counts.items():
            ewm = self.history.get(template_id)
            seen_windows = ewm.n if ewm is not None else 0
            if count < cfg.min_count or self.windows < cfg.warmup_windows:
                continue
            z = ewm.poisson_z(count) if ewm is not None else float(count)
            if seen_windows < cfg.warmup_windows and ewm is not None:
                continue
            if z >= cfg.z_threshold:
                usual = ewm.mean if ewm is not None else 0.0
                window.findings.append(
                    Finding(
                        kind="template_frequency",
                        detector=self.name,
                        score=exceedance_score(z, cfg.z_threshold),
                        threshold=0.9,
                        reason=(
                            f"template '{self.names.get(template_id, template_id)}' appeared {count} times "
                            f"in {cfg.window_s:g}s, usually {usual:.1f}"
                        ),
                        time=window.end,
                        values={"count": float(count), "usual": usual, "z": z},
                        key=template_id,
                    )
                )
        window.vector = self._vector(window.counts)
        self._learn(window.counts)
        self.counts = {}
        return window

    def _learn(self, counts: dict[str, int]) -> None:
        for template_id in set(self.history) | set(counts):
            ewm = self.history.get(template_id)
            if ewm is None:
                if len(self.history) >= MAX_TEMPLATES:
                    continue
                ewm = self.history[template_id] = Ewm(self.config.alpha)
            ewm.update(float(counts.get(template_id, 0)))
        for template_id, count in counts.items():
            self.totals[template_id] = self.totals.get(template_id, 0) + count
        self.windows += 1

    def _vector(self, counts: dict[str, int]) -> dict[str, float]:
        """One feature per frequent template (by lines seen so far, this window included), plus other and total."""
        ranked = sorted(
            set(self.totals) | set(counts),
            key=lambda t: (-(self.totals.get(t, 0) + counts.get(t, 0)), t),
        )
        top = ranked[: self.config.top_templates]
        vector = {feature_name(t): float(counts.get(t, 0)) for t in top}
        total = float(sum(counts.values()))
        vector["other"] = total - sum(vector.values())
        vector["total"] = total
        return vector


def feature_name(template_id: str) -> str:
    """The feature name of a template in the count vector: ``t<cluster id>``.

    >>> feature_name("sshd:12"), feature_name("t1")
    ('t12', 't1')
    """
    tail = template_id.rsplit(":", 1)[-1]
    return tail if tail.startswith("t") else f"t{tail}"
