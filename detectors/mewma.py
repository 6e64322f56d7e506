"""Multivariate EWMA (MEWMA) chart: small, sustained shifts of several sensors at once.

The residuals ``d = x - mean`` of the Mahalanobis baseline are smoothed,
``e = (1 - lam) e + lam d``, and the row's score is ``e' S^-1 e (2 - lam) / lam``
(about chi-squared with one degree per feature on normal data). A shift too
small for a point test adds up over ``~1/lam`` points; a single spike is
diluted (the point detectors catch those).

>>> import numpy as np
>>> bank = MewmaBank()
>>> rng = np.random.default_rng(4)
>>> def feed(shift, n):
...     out = []
...     for _ in range(n):
...         x = rng.normal(size=(1, 2)) + shift
...         out.append(bank.score(["s"], x, ["p", "q"], np.zeros(1)).raw[0])
...         bank.learn(["s"], x, ["p", "q"], np.zeros(1), np.array([True]))
...     return out
>>> normal = feed(0.0, 400)
>>> shifted = feed(2.0, 30)
>>> bool(max(shifted) > 3 * max(normal[100:]))
True
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import BankParams
from aiops.detectors.base import BankScores
from aiops.detectors.mahalanobis import MahalanobisBank, MahalanobisParams


class MewmaParams(MahalanobisParams):
    lam: float = Field(0.2, gt=0.0, le=1.0, description="weight of a new residual in the smoothed residual")


class MewmaBank(MahalanobisBank):
    """T-squared of the exponentially smoothed residual vector."""

    name: ClassVar[str] = "mewma"
    Params: ClassVar[type[BankParams]] = MewmaParams
    multivariate_only: ClassVar[bool] = False
    params: MewmaParams
    chart_fields: ClassVar[tuple[str, ...]] = ("ew",)  # advanced on every row, learned or not

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        return {**super()._fields(n_features), "ew": ((n_features,), 0.0)}

    def _smoothed(self, rows: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, lam = self.store.arrays, self.params.lam  # type: ignore[union-attr]
        mean, d, pd = self._deviation(rows, X)
        clip = self.params.clip
        if clip is not None:  # a spike enters the smoothed residual at most clip sds long: no echo after it
            t2 = np.maximum((d * pd).sum(axis=1), 0.0)
            limit = clip * clip * X.shape[1]
            d = d * np.sqrt(np.minimum(1.0, limit / np.maximum(t2, 1e-300)))[:, None]
        e = (1.0 - lam) * a["ew"][rows] + lam * d
        pe = np.einsum("nij,nj->ni", a["prec"][rows], e)
        return mean, e, pe

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        _, e, pe = self._smoothed(rows, X)
        scale = (2.0 - self.params.lam) / self.params.lam
        t2 = np.maximum((e * pe).sum(axis=1), 0.0) * scale
        return BankScores(raw=t2, per_feature=np.abs(e * pe))

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        """Smooth the residual of every row (the chart itself); only ``mask`` rows move the baseline."""
        rows = self._rows(series, features, X)
        _, e, _ = self._smoothed(rows, X)
        self.store.arrays["ew"][rows] = e  # type: ignore[union-attr]
        super().learn(series, X, features, times, mask)

    def learn_late(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> None:
        super().learn(series, X, features, times, np.ones(len(series), dtype=bool))
