"""Two-sided CUSUM on standardised residuals: catches level shifts too small for a point test.

Per feature, ``S+ = max(0, S+ + z - k)`` and ``S- = max(0, S- - z - k)``
accumulate evidence of a sustained move; a sum beyond ``h`` is an alarm, after
which the learned sums restart from zero.

>>> import numpy as np
>>> bank = CusumBank()
>>> rng = np.random.default_rng(1)
>>> def feed(level, n):
...     raws = []
...     for _ in range(n):
...         x = np.array([[level + rng.normal()]])
...         raws.append(bank.score(["s"], x, ["v"], np.zeros(1)).raw[0])
...         bank.learn(["s"], x, ["v"], np.zeros(1), np.array([True]))
...     return raws
>>> before = feed(0.0, 300)
>>> after = feed(1.5, 10)
>>> bool(max(after) > 2 * max(before[100:]))
True
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import BankParams, BaselineBank
from aiops.detectors.base import BankScores


class CusumParams(BankParams):
    alpha: float = Field(0.002, gt=0.0, le=1.0, description="weight of a new point in the slow baseline")
    drift: float = Field(0.5, ge=0.0, description="k: residual (in sds) a point must exceed to add evidence")
    reset: float = Field(8.0, gt=0.0, description="h: sum beyond which the alarm fires and the sums restart")
    clip: float | None = Field(4.0, gt=0.0, description="residuals (in sds) are clipped to this in the sums carried forward and in learning")
    rel_floor: float = Field(1e-3, ge=0.0, description="sd floor relative to the level, for near-constant series")
    abs_floor: float = Field(1e-9, ge=0.0, description="absolute sd floor, added to the relative one")


class CusumBank(BaselineBank):
    """Largest two-sided CUSUM statistic over the row's features."""

    name: ClassVar[str] = "cusum"
    Params: ClassVar[type[BankParams]] = CusumParams
    params: CusumParams
    chart_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")  # advanced on every row, learned or not

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        f = (n_features,)
        return {**super()._fields(n_features), "pos": (f, 0.0), "neg": (f, 0.0)}

    def _sums(self, rows: np.ndarray, X: np.ndarray, *, clipped: bool) -> tuple[np.ndarray, np.ndarray]:
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        z = self._residual(rows, X)
        if clipped and p.clip is not None:
            z = np.clip(z, -p.clip, p.clip)
        pos = np.maximum(0.0, a["pos"][rows] + z - p.drift)
        neg = np.maximum(0.0, a["neg"][rows] - z - p.drift)
        return pos, neg

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        pos, neg = self._sums(rows, X, clipped=False)
        both = np.maximum(pos, neg)
        return BankScores(raw=both.max(axis=1), per_feature=both)

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        """Advance the sums on every row; only the rows of ``mask`` move the baseline.

        The sums are the test itself, not what it has learned: frozen on
        flagged rows they would keep a finished alarm alive, advancing they
        grow through a sustained shift and fall back when it ends.
        """
        all_rows = self._rows(series, features, X)
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        # the sums carried forward add at most clip - k per point: they follow shifts, and one spike (scored
        # in full above) does not echo for long
        pos, neg = self._sums(all_rows, X, clipped=True)
        warm = (a["cnt"][all_rows] >= p.min_count)
        alarm = np.maximum(pos, neg) > p.reset
        a["pos"][all_rows] = np.where(warm & ~alarm, pos, 0.0)
        a["neg"][all_rows] = np.where(warm & ~alarm, neg, 0.0)
        self._learn_baseline(all_rows[mask], X[mask])

    def learn_late(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> None:
        self._learn_baseline(self._rows(series, features, X), X)
