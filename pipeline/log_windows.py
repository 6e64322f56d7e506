"""Log lines become metrics: per log series and time window, how many and how bad.

Windows are aligned on multiples of ``window_s`` of event time. A window
closes when a later event of the same series lands at or past its end, or on
``flush(now)`` once ``now`` is a whole window past its end (the grace for late
lines). Each closed window gives one metric event, ``series_id_for("logs",
labels)``, at the window's start, with features ``count``, ``error_count``
(error and critical), ``warning_count`` and ``error_ratio``. Nothing depends on
later windows; lines for a window already closed are counted in ``late``.

With ``empty_windows=N``, up to N windows without a line after a series' last
closed window are emitted too, with a count of 0, so a service that falls
silent shows as a drop rather than as nothing.

>>> from aiops.detectors.core.shapes import Event
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
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.core.shapes import Event, series_id_for

log = structlog.get_logger(__name__)

ERROR_LEVELS = frozenset({"error", "critical"})
STATE_VERSION = 1


@dataclass(slots=True)
class _SeriesWindow:
    """One log series: its open window (``start`` None when none) and what closed before."""

    labels: dict[str, str]
    start: float | None = None
    count: int = 0
    errors: int = 0
    warnings: int = 0
    ingest_time: float = 0.0
    closed_until: float = -math.inf  # end of the last window emitted; earlier lines are late
    empties: int = 0  # empty windows emitted since the last line


class LogWindowAggregator:
    """Counts log events per (series, window) and emits closed windows as metric events.

    ``max_series`` bounds the memory: a series beyond it is refused (counted in
    ``refused``) once no idle series can be forgotten to make room.
    """

    def __init__(self, window_s: float, *, max_series: int = 100_000, empty_windows: int = 0) -> None:
        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and window_s > 0):
            raise ConfigError(f"log window must be a positive number of seconds, got {window_s!r}")
        if max_series < 1:
            raise ConfigError(f"max_series must be at least 1, got {max_series!r}")
        if empty_windows < 0:
            raise ConfigError(f"empty_windows must be 0 or more, got {empty_windows!r}")
        self.window_s = float(window_s)
        self.max_series = max_series
        self.empty_windows = empty_windows
        self._series: dict[str, _SeriesWindow] = {}
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
            series = self._series_for(event)
            if series is None:
                continue
            start = math.floor(event.time / self.window_s) * self.window_s
            if start < series.closed_until or (series.start is not None and start < series.start):
                self.late += 1  # its window ended before a line already seen: closed
                continue
            if series.start is not None and start > series.start:
                closed.append(self._close(event.series_id, series))
            if series.start is None:
                closed.extend(self._empties(series, last_start=start - self.window_s))
                series.start, series.count, series.errors, series.warnings = start, 0, 0, 0
                series.ingest_time = 0.0
            series.count += 1
            if event.level in ERROR_LEVELS:
                series.errors += 1
            elif event.level == "warning":
                series.warnings += 1
            series.ingest_time = max(series.ingest_time, event.ingest_time)
        return closed

    def flush(self, now: float) -> list[Event]:
        """Close every open window whose end lies at least one window before ``now``."""
        closed: list[Event] = []
        last_start = now - 2 * self.window_s
        for series_id, series in self._series.items():
            if series.start is not None and series.start <= last_start:
                closed.append(self._close(series_id, series))
            if series.start is None:
                closed.extend(self._empties(series, last_start=last_start))
        return closed

    def open_windows(self) -> int:
        return sum(1 for series in self._series.values() if series.start is not None)

    def export_state(self) -> dict[str, Any]:
        """A picklable (and JSON-able) dict that ``from_state`` restores."""
        return {
            "version": STATE_VERSION,
            "window_s": self.window_s,
            "max_series": self.max_series,
            "empty_windows": self.empty_windows,
            "late": self.late,
            "refused": self.refused,
            "invalid": self.invalid,
            "series": {sid: asdict(series) for sid, series in self._series.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LogWindowAggregator:
        """An aggregator with the open windows and counters of an exported state."""
        try:
            if state.get("version") != STATE_VERSION:
                raise InputError(f"log window state version {state.get('version')!r} is not {STATE_VERSION}")
            agg = cls(state["window_s"], max_series=state["max_series"], empty_windows=state["empty_windows"])
            agg.late, agg.refused, agg.invalid = int(state["late"]), int(state["refused"]), int(state["invalid"])
            agg._series = {sid: _SeriesWindow(**dict(s)) for sid, s in state["series"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"log window state is malformed: {exc!r}") from None
        return agg

    def _series_for(self, event: Event) -> _SeriesWindow | None:
        series = self._series.get(event.series_id)
        if series is not None:
            return series
        if len(self._series) >= self.max_series and not self._forget_idle():
            self.refused += 1
            return None
        series = _SeriesWindow(labels=dict(event.labels))
        self._series[event.series_id] = series
        return series

    def _forget_idle(self) -> bool:
        """Drop the series without an open window (their late-line memory goes with them)."""
        idle = [sid for sid, series in self._series.items() if series.start is None]
        for sid in idle:
            del self._series[sid]
        if idle:
            log.info("log_windows_forgot_idle_series", forgotten=len(idle))
        return bool(idle)

    def _close(self, series_id: str, series: _SeriesWindow) -> Event:
        assert series.start is not None
        event = self._window_event(series, series.start, series.count, series.errors, series.warnings)
        series.closed_until = series.start + self.window_s
        series.start = None
        series.empties = 0
        return event

    def _empties(self, series: _SeriesWindow, *, last_start: float) -> list[Event]:
        """Zero-count windows after the last closed one, up to ``last_start`` and the cap."""
        out: list[Event] = []
        while (
            series.empties < self.empty_windows
            and math.isfinite(series.closed_until)
            and series.closed_until <= last_start
        ):
            out.append(self._window_event(series, series.closed_until, 0, 0, 0))
            series.closed_until += self.window_s
            series.empties += 1
        return out

    def _window_event(self, series: _SeriesWindow, start: float, count: int, errors: int, warnings: int) -> Event:
        return Event(
            "metric",
            series_id_for("logs", series.labels),
            dict(series.labels),
            start,
            {
                "count": float(count),
                "error_count": float(errors),
                "warning_count": float(warnings),
                "error_ratio": errors / count if count else 0.0,
            },
            ingest_time=series.ingest_time,
        )
