"""Per-feature EWMA chart, scaled by how far the chart itself wanders on normal data.

Each feature's residual from its exponentially weighted baseline, in sds, is
smoothed, ``e = (1 - lam) e + lam z``: a shift too small for a point test adds
up over ``~1/lam`` points, like MEWMA but feature by feature. On independent
noise ``e`` has sd ``sqrt(lam / (2 - lam))``; a sensor that wanders (a
temperature following the load) makes it swing much wider, so the chart is
divided by its own running RMS over learned points (never below that of
noise). A slow sensor then needs a larger excursion than a steady one before
it is unusual, and each learns that from its own history. The chart smooths
the median of the last three residuals, so a lone spike, which the point
detectors report, does not hold it up for the points after it.

>>> import numpy as np
>>> bank = EwmaBank()
>>> rng = np.random.default_rng(3)
>>> def feed(shift, n):
...     out = []
...     for _ in range(n):
...         x = np.array([[rng.normal() + shift]])
...         out.append(bank.score(["s"], x, ["flow"], np.zeros(1)).raw[0])
...         bank.learn(["s"], x, ["flow"], np.zeros(1), np.array([shift == 0.0]))
...     return out
>>> normal = feed(0.0, 600)
>>> shifted = feed(1.0, 40)  # one sd, far below what a point test sees
>>> bool(max(shifted) > 1.5 * max(normal[300:]))
True
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import BankParams, BaselineBank
from aiops.detectors.base import BankScores


class EwmaParams(BankParams):
    alpha: float = Field(0.01, gt=0.0, le=1.0, description="weight of a new point in the baseline")
    clip: float | None = Field(1.5, gt=0.0, description="learning clips residuals beyond this many sds")
    lam: float = Field(0.1, gt=0.0, le=1.0, description="weight of a new residual in the chart")
    # one point moves the chart by at most lam * chart_clip sds: a lone outlier of a heavy-tailed sensor does not
    # hold the chart up for the ~1/lam points after it
    chart_clip: float | None = Field(20.0, gt=0.0, description="residuals enter the chart clipped to this many sds")
    norm_alpha: float = Field(0.001, gt=0.0, le=1.0, description="weight of a learned point in the chart's RMS")
    norm_clip: float = Field(2.0, gt=0.0, description="a learned chart value counts at most this many RMS in it")
    rms_floor: float = Field(
        1.0, ge=0.0, description="the chart's RMS is taken as at least this (1: independent noise), so a sensor "
                                 "steadier than noise (quantised, periodic) is not read more sharply than noise")
    despike: bool = Field(True, description="the chart smooths the median of the last three residuals: a lone "
                                            "spike (the point detectors report it) does not echo in it")
    rel_floor: float = Field(1e-3, ge=0.0, description="sd floor relative to the level, for near-constant sensors")
    abs_floor: float = Field(1e-9, ge=0.0, description="absolute sd floor, added to the relative one")


class EwmaBank(BaselineBank):
    """|chart| / its RMS per feature; a row's raw score is the largest."""

    name: ClassVar[str] = "ewma"
    Params: ClassVar[type[BankParams]] = EwmaParams
    chart_fields: ClassVar[tuple[str, ...]] = ("chart", "z1", "z2")  # advanced on every row, learned or not
    params: EwmaParams

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        f = (n_features,)
        return {**super()._fields(n_features), "chart": (f, 0.0), "ms": (f, 0.0), "ms_cnt": (f, 0), "z1": (f, 0.0),
                "z2": (f, 0.0)}

    def _chart(self, rows: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chart after this row (in sds of the residual) and the row's residual."""
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        z = self._residual(rows, X)
        if p.chart_clip is not None:
            z = np.clip(z, -p.chart_clip, p.chart_clip)
        warm = a["cnt"][rows] >= p.min_count
        z = np.where(warm, z, 0.0)
        step = np.median(np.stack([z, a["z1"][rows], a["z2"][rows]]), axis=0) if p.despike else z
        e = (1.0 - p.lam) * a["chart"][rows] + p.lam * step
        return np.where(warm, e, 0.0), z

    def _scale(self) -> float:
        return float(np.sqrt(self.params.lam / (2.0 - self.params.lam)))

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        a = self.store.arrays  # type: ignore[union-attr]
        s = np.abs(self._chart(rows, X)[0]) / self._scale()
        ms = a["ms"][rows]
        ready = (a["ms_cnt"][rows] >= self.params.min_count) & (ms > 0)
        rms = np.maximum(np.sqrt(np.where(ready, ms, 1.0)), self.params.rms_floor)
        s = np.where(ready, s / rms, 0.0)
        return BankScores(raw=s.max(axis=1), per_feature=s * s)

    def _warm_rows(self, rows: np.ndarray) -> np.ndarray:
        """A series is warm once some feature's chart has an RMS to be scaled by (before, it scores 0)."""
        return (self.store.arrays["ms_cnt"][rows] >= self.params.min_count).any(axis=1)  # type: ignore[union-attr]

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        """Advance the chart on every row; only the rows of ``mask`` move the baseline and the chart's RMS."""
        rows = self._rows(series, features, X)
        a = self.store.arrays  # type: ignore[union-attr]
        a["chart"][rows], z = self._chart(rows, X)
        a["z2"][rows] = a["z1"][rows]
        a["z1"][rows] = z
        self._learn_rows(rows[mask], X[mask])

    def learn_late(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> None:
        self._learn_rows(self._rows(series, features, X), X)

    def _learn_rows(self, rows: np.ndarray, x: np.ndarray) -> None:
        if rows.size == 0:
            return
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        # the chart's mean square, of the chart as it stands: a learned point says this swing is normal
        s = np.abs(a["chart"][rows]) / self._scale()
        ms, k = a["ms"][rows], a["ms_cnt"][rows]
        s = np.where((k >= p.min_count) & (ms > 0), np.minimum(s, p.norm_clip * np.sqrt(ms)), s)
        ok = np.isfinite(x) & (a["cnt"][rows] >= p.min_count)
        w = np.maximum(p.norm_alpha, 1.0 / (k + 1))
        a["ms"][rows] = np.where(ok, (1.0 - w) * ms + w * s * s, ms)
        a["ms_cnt"][rows] = k + ok
        self._learn_baseline(rows, x)
