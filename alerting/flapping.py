"""Flap detection: count an alert's state changes in a sliding window.

>>> from aiops.alerting.config import FlappingConfig
>>> flaps = FlapTracker(FlappingConfig(max_changes=2, window_s=100))
>>> for t in (0, 10): flaps.record("fp", t)
>>> flaps.is_flapping("fp", 20), flaps.is_flapping("fp", 150)
(True, False)
"""

from __future__ import annotations

from collections import deque

from aiops.alerting.config import FlappingConfig


class FlapTracker:
    """Remembers the times of state changes per fingerprint."""

    def __init__(self, config: FlappingConfig) -> None:
        self.config = config
        self._changes: dict[str, deque[float]] = {}

    def record(self, fp: str, now: float) -> None:
        self._changes.setdefault(fp, deque()).append(now)
        self._trim(fp, now)

    def changes(self, fp: str, now: float) -> int:
        self._trim(fp, now)
        return len(self._changes.get(fp, ()))

    def is_flapping(self, fp: str, now: float) -> bool:
        """True when the changes in the window reached ``max_changes`` (another one would exceed it)."""
        return self.config.enabled and self.changes(fp, now) >= self.config.max_changes

    def forget(self, fp: str) -> None:
        self._changes.pop(fp, None)

    def export(self) -> dict[str, list[float]]:
        return {fp: list(times) for fp, times in self._changes.items() if times}

    def import_(self, data: dict[str, list[float]]) -> None:
        self._changes = {fp: deque(float(t) for t in times) for fp, times in data.items()}

    def _trim(self, fp: str, now: float) -> None:
        times = self._changes.get(fp)
        while times and times[0] <= now - self.config.window_s:
            times.popleft()
