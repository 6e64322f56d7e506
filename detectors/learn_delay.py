"""Learning a point some steps after scoring it, and only if no flagged point followed.

A detector that learns every point it does not flag absorbs the slow start
of an anomaly: the first points of a ramp or of a small level shift are not
yet extreme, so they are learned, and the baseline follows the anomaly
before it ever flags. With a delay of ``D`` points, a point waits in a
per-series buffer and is learned ``D`` points after it was scored, unless a
flagged point (one the engine does not learn) came in between: then every
point still waiting is dropped, because it led into that anomaly. On clean
data every point is still learned, in order, only ``D`` points late.

A young series learns at once: the engine starts the delay once a series has
had twice as many points as its calibration history holds (512 by default).
Before that, held points would thin a history that is thin already, a false
alarm would drop them and feed on itself, and a switch made while the
calibration rings still hold the scores of a baseline that learned at once
reads the larger residuals of a late baseline as anomalies (a sine of period
600 flagged 26 points in 10,000 when the delay began at 256 points, none
from 512).

The buffer is a ring of ``D`` slots per series, in the engine's slot store;
the slot of a series' ``count``-th point is ``count % D``, so the slot about
to be written holds the point from ``D`` steps ago.

>>> import numpy as np
>>> from aiops.detectors.slots import SlotStore
>>> lag = LearnDelay(2, n_features=1, n_detectors=1, impute=False)
>>> store = SlotStore({"count": ((), 0), **lag.fields()})
>>> rows = store.rows(["a"])
>>> out = []
>>> for t, ok in enumerate([True, True, True, True]):
...     count = store.arrays["count"][rows]
...     due = lag.take(store.arrays, rows, count)
...     out.append(None if due is None else float(due.x[0, 0]))
...     one = np.array([[float(t)]])
...     lag.hold(store.arrays, rows, count, one, one, np.array([t]), np.zeros((1, 1)), np.zeros((1, 1)),
...              np.ones((1, 1), dtype=bool), np.array([ok]))
...     store.arrays["count"][rows] = count + 1
>>> out
[None, None, 0.0, 1.0]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Due(NamedTuple):
    """The waiting points whose turn has come, for the step's rows ``pick``."""

    pick: np.ndarray  # positions in the step
    x: np.ndarray  # (k, f) as scored (NaN where a feature was missing)
    filled: np.ndarray  # (k, f) missing features carried forward
    times: np.ndarray  # (k,)
    raw: np.ndarray  # (k, d) raw scores, for the calibration rings
    level: np.ndarray  # (k, d) tail levels they were calibrated against
    warm: np.ndarray  # (k, d) was the detector warm when it scored them


class LearnDelay:
    """The per-series buffer of points waiting to be learned (``delay`` slots)."""

    def __init__(self, delay: int, *, n_features: int, n_detectors: int, impute: bool, start: int = 0) -> None:
        if delay < 1:
            raise ValueError(f"delay must be at least 1, got {delay}")
        self.delay, self.f, self.d, self.impute = delay, n_features, n_detectors, impute
        self.start = start  # points of a series learned at once before the delay applies (the engine's choice)

    def fields(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Slot-store fields of the buffer."""
        D, f, d = self.delay, self.f, self.d
        out: dict[str, tuple[tuple[int, ...], Any]] = {
            "lag_x": ((D, f), np.nan), "lag_t": ((D,), 0.0), "lag_raw": ((D, d), np.float32(0.0)),
            "lag_level": ((D, d), np.float32(0.0)), "lag_warm": ((D, d), np.False_), "lag_ok": ((D,), np.False_)}
        if self.impute:
            out["lag_filled"] = ((D, f), 0.0)
        return out

    def take(self, arrays: dict[str, np.ndarray], rows: np.ndarray, count: np.ndarray) -> Due | None:
        """The points scored ``delay`` steps before these rows' current ones and still to be learned."""
        pos = count % self.delay
        ok = arrays["lag_ok"][rows, pos] & (count >= self.delay)
        if not ok.any():
            return None
        pick = np.flatnonzero(ok)
        r, p = rows[pick], pos[pick]
        x = arrays["lag_x"][r, p]
        filled = arrays["lag_filled"][r, p] if self.impute else x
        return Due(pick, x, filled, arrays["lag_t"][r, p], arrays["lag_raw"][r, p], arrays["lag_level"][r, p],
                   arrays["lag_warm"][r, p])

    def hold(self, arrays: dict[str, np.ndarray], rows: np.ndarray, count: np.ndarray, x: np.ndarray,
             filled: np.ndarray, times: np.ndarray, raw: np.ndarray, level: np.ndarray, warm: np.ndarray,
             ok: np.ndarray) -> None:
        """Put the step's points in their slots (after ``take`` read what was there)."""
        pos = count % self.delay
        arrays["lag_x"][rows, pos] = x
        if self.impute:
            arrays["lag_filled"][rows, pos] = filled
        arrays["lag_t"][rows, pos] = times
        arrays["lag_raw"][rows, pos] = raw
        arrays["lag_level"][rows, pos] = level
        arrays["lag_warm"][rows, pos] = warm
        arrays["lag_ok"][rows, pos] = ok

    @staticmethod
    def void(arrays: dict[str, np.ndarray], rows: np.ndarray) -> None:
        """Drop every point still waiting in these series (a flagged point came after them)."""
        arrays["lag_ok"][rows] = False

    def export(self, record: dict[str, np.ndarray]) -> dict[str, Any]:
        """The buffer of one series (from ``SlotStore.export``), detector columns apart."""
        out = {"delay": self.delay, "x": record["lag_x"], "t": record["lag_t"], "ok": record["lag_ok"]}
        if self.impute:
            out["filled"] = record["lag_filled"]
        return out

    @staticmethod
    def detector_columns(record: dict[str, np.ndarray], j: int) -> dict[str, np.ndarray]:
        return {"raw": record["lag_raw"][:, j], "level": record["lag_level"][:, j], "warm": record["lag_warm"][:, j]}

    def restore(self, arrays: dict[str, np.ndarray], slot: int, saved: dict[str, Any] | None) -> bool:
        """Load a saved buffer if it has this delay and layout; False (nothing waits) otherwise."""
        if not saved or saved.get("delay") != self.delay or np.shape(saved.get("x")) != (self.delay, self.f):
            return False
        arrays["lag_x"][slot], arrays["lag_t"][slot], arrays["lag_ok"][slot] = saved["x"], saved["t"], saved["ok"]
        if self.impute:
            arrays["lag_filled"][slot] = saved["filled"] if saved.get("filled") is not None else saved["x"]
        return True

    @staticmethod
    def restore_detector(arrays: dict[str, np.ndarray], slot: int, j: int, saved: dict[str, np.ndarray] | None) -> None:
        """A detector's columns, or (settings changed, no columns) its waiting points kept out of its ring."""
        if saved is None:
            arrays["lag_warm"][slot, :, j] = False
            return
        arrays["lag_raw"][slot, :, j] = saved["raw"]
        arrays["lag_level"][slot, :, j] = saved["level"]
        arrays["lag_warm"][slot, :, j] = saved["warm"]
