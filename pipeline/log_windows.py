"""Log lines become metrics: per log series and time window, how many and how bad.

Windows are aligned on multiples of ``window_s`` of event time. A window
closes when a later event of the same series lands at or past its end, or on
``flush(now)`` once ``now`` is a whole window past its end (the grace for late
lines). Each closed window gives one metric event, ``series_id_for("logs",
labels)``, at the window's start, with features ``count``, ``error_count``
(error and critical), ``warning_count`` and ``error_ratio``. Nothing depends on
later windows; lines for a window already closed are counted in ``late``.

>>> from aiops.pipeline.shapes import Event
>>> def line(t, level="info"):
...     return Event("log", "log|host=a", {"host": "a"}, t, {}, message="x", level=level)
>>> agg = LogWindowAggregator(60.0)
>>> agg.add([line(0.0), line(10.0, "error"), line(59.0, "warning")])
[]
>>> [(e.series_id, e.time, e.features) for e in agg.add([line(61.0)])]
[('logs|host=a', 0.0, {'count': 3.0, 'error_count': 1.0, 'warning_count': 1.0, 'error_ratio': 0.3333333333333333})]
>>> agg.add([line(5.0)]), agg.late
([], 1)
>>> [e.time for e in agg.flush(now=180.0)]
[60.0]
"""

from __future__ import annotations

import math
from typing import Any

import structlog

from aiops.pipeline.errors import ConfigError, InputError
from aiops.pipeline.shapes import Event, series_id_for

log = structlog.get_logger(__name__)

ERROR_LEVELS = frozenset({"error", "critical"})
STATE_VERSION = 1


class LogWindowAggregator:
    """Counts log events per (series, window) and emits closed windows as metric events.

    ``max_series`` bounds the memory: a series beyond it is refused (counted in
    ``refused``) once no idle series can be forgotten to make room.
    """

    def __init__(self, window_s: float, *, max_series: int = 100_000) -> None:
        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and window_s > 0):
            raise ConfigError(f"log window must be a positive number of seconds, got {window_s!r}")
        if max_series < 1:
            raise ConfigError(f"max_series must be at least 1, got {max_series!r}")
        self.window_s = float(window_s)
        self.max_series = max_series
        # series id -> [labels, open window start or None, count, errors, warnings, closed_until, ingest]
        self._series: dict[str, list[Any]] = {}
        self.late = 0
        self.refused = 0
        self.invalid = 0

    def add(self, events: list[Event]) -> list[Event]:
        """Count the log events; return the metric events of every window they close."""
        closed: list[Event] = []
        for event in events:
            if event.source != "log":
                continue
            if not math.isfinite(event.time):
                self.invalid += 1
                continue
            state = self._state_for(event)
            if state is None:
                continue
            start = self._window_start(event.time)
            if start < state[5] or (state[1] is not None and start < state[1]):
                self.late += 1  # its window ended before an event already seen: closed
                continue
            if state[1] is not None and start > state[1]:
                closed.append(self._close(event.series_id, state))
            if state[1] is None:
                state[1] = start
                state[2] = state[3] = state[4] = 0
                state[6] = 0.0
            state[2] += 1
            if event.level in ERROR_LEVELS:
                state[3] += 1
            elif event.level == "warning":
                state[4] += 1
            state[6] = max(state[6], event.ingest_time)
        return closed

    def flush(self, now: float) -> list[Event]:
        """Close every open window whose end lies at least one window before ``now``."""
        closed: list[Event] = []
        for series_id, state in self._series.items():
            if state[1] is not None and now >= state[1] + 2 * self.window_s:
                closed.append(self._close(series_id, state))
        return closed

    def open_windows(self) -> int:
        return sum(1 for state in self._series.values() if state[1] is not None)

    def export_state(self) -> dict[str, Any]:
        """A picklable (and JSON-able) dict that ``from_state`` restores."""
        return {
            "version": STATE_VERSION,
            "window_s": self.window_s,
            "max_series": self.max_series,
            "late": self.late,
            "refused": self.refused,
            "series": {sid: [dict(s[0]), *s[1:]] for sid, s in self._series.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LogWindowAggregator:
        """An aggregator with the open windows and counters of an exported state."""
        try:
            if state.get("version") != STATE_VERSION:
                raise InputError(f"log window state version {state.get('version')!r} is not {STATE_VERSION}")
            agg = cls(state["window_s"], max_series=state["max_series"])
            agg.late = int(state["late"])
            agg.refused = int(state["refused"])
            agg._series = {sid: [dict(s[0]), *s[1:]] for sid, s in state["series"].items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"log window state is malformed: {exc!r}") from None
        return agg

    def _window_start(self, time: float) -> float:
        return math.floor(time / self.window_s) * self.window_s

    def _state_for(self, event: Event) -> list[Any] | None:
        state = self._series.get(event.series_id)
        if state is not None:
            return state
        if len(self._series) >= self.max_series and not self._forget_idle():
            self.refused += 1
            return None
        state = [dict(event.labels), None, 0, 0, 0, -math.inf, 0.0]
        self._series[event.series_id] = state
        return state

    def _forget_idle(self) -> bool:
        """Drop the series without an open window (their late-line memory goes with them)."""
        idle = [sid for sid, state in self._series.items() if state[1] is None]
        for sid in idle:
            del self._series[sid]
        if idle:
            log.info("log_windows_forgot_idle_series", forgotten=len(idle))
        return bool(idle)

    def _close(self, series_id: str, state: list[Any]) -> Event:
        labels, start, count, errors, warnings = state[0], state[1], state[2], state[3], state[4]
        state[1] = None
        state[5] = start + self.window_s
        return Event(
            "metric",
            series_id_for("logs", labels),
            dict(labels),
            start,
            {
                "count": float(count),
                "error_count": float(errors),
                "warning_count": float(warnings),
                "error_ratio": errors / count if count else 0.0,
            },
            ingest_time=state[6],
        )
