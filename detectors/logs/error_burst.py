"""Bursts of error-level lines of one source.

Error lines are counted per time window. Closed windows teach a running mean
and variance; while a window is open, its count so far is compared with them
(a Poisson-floored z-score), so a burst is flagged on the line that makes it
one, never later. Every error line while the window is in burst scores high;
the first one carries a ``key`` (one anomaly per burst). Windows count
seconds, or lines (``window_lines``) for sampled or replayed logs.

>>> from aiops.detectors.logs.config import ErrorBurstConfig
>>> d = ErrorBurstDetector(ErrorBurstConfig(window_s=10, min_errors=3, z_threshold=3))
>>> for w in range(6): _ = d.observe("info", w * 10.0) and None
>>> hits = [d.observe("error", 60.0 + i * 0.1) for i in range(5)]
>>> [h is not None for h in hits]
[False, False, True, True, True]
>>> hits[2].kind, hits[2].values["errors_in_window"]
('error_burst', 3.0)
"""

from __future__ import annotations

import math

from aiops.detectors.logs.config import ErrorBurstConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import Ewm, exceedance_score


class ErrorBurstDetector:
    """Per-window error counts of one source; flags the lines of a burst as they arrive."""

    name = "error_burst"
    Config = ErrorBurstConfig  # its settings, under logs.error_burst

    def __init__(self, config: ErrorBurstConfig) -> None:
        self.config = config
        self.levels = frozenset(config.levels)
        self.history = Ewm(config.alpha)
        self.window_start: float | None = None
        self.errors = 0
        self.lines = 0
        self.fired_in_window = False

    def observe(self, level: str | None, time: float) -> Finding | None:
        self._roll(time)
        self.lines += 1
        if (level or "").lower() not in self.levels:
            return None
        self.errors += 1
        cfg = self.config
        if self.history.n == 0 or self.errors < cfg.min_errors:
            return None
        z = self.history.poisson_z(self.errors)
        if z < cfg.z_threshold:
            return None
        onset = not self.fired_in_window
        self.fired_in_window = True
        return Finding(
            kind="error_burst",
            detector=self.name,
            score=exceedance_score(z, cfg.z_threshold),
            threshold=0.9,
            reason=(
                f"{self.errors} error lines in the current {cfg.window_s:g}s window, "
                f"against {self.history.mean:.1f} usually"
            ),
            time=time,
            values={
                "errors_in_window": float(self.errors),
                "usual_errors": self.history.mean,
                "z": z,
                "onset": 1.0 if onset else 0.0,
            },
            key=f"{self.window_start:.3f}" if onset else "",
        )

    def _roll(self, time: float) -> None:
        if self.config.window_lines is not None:
            self._roll_lines()
            return
        width = self.config.window_s
        start = math.floor(time / width) * width
        if self.window_start is None:
            self.window_start = start
            return
        if start <= self.window_start:
            return
        self._learn_window()
        empty = int(min((start - self.window_start) / width - 1, 10))
        for _ in range(max(empty, 0)):  # a few quiet windows in between teach that quiet is normal
            self.history.update(0.0)
        self.window_start = start
        self._reset()

    def _roll_lines(self) -> None:
        if self.window_start is None:
            self.window_start = 0.0
        elif self.lines >= (self.config.window_lines or 1):
            self._learn_window()
            self.window_start += self.lines
            self._reset()

    def _learn_window(self) -> None:
        """Learn the closed window, unless it was a burst (a burst must not become the norm)."""
        if not self.fired_in_window:
            self.history.update(float(self.errors))

    def _reset(self) -> None:
        self.errors = 0
        self.lines = 0
        self.fired_in_window = False
