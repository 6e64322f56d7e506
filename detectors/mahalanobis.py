"""Hotelling's T-squared: the joint distance of a row from its series' mean under a shrunk covariance.

Sensors that move together (pressure and flow, current and vibration) make a
point abnormal when their relation breaks even if each value alone looks
fine. Mean and covariance are exponentially weighted (cumulative at first);
the covariance is shrunk towards its diagonal so that few points or nearly
collinear sensors still give a stable inverse.

>>> import numpy as np
>>> bank = MahalanobisBank()
>>> rng = np.random.default_rng(2)
>>> for t in range(300):
...     a = rng.normal()
...     x = np.array([[a, a + 0.1 * rng.normal()]])
...     bank.learn(["s"], x, ["p", "q"], np.zeros(1), np.array([True]))
>>> usual = bank.score(["s"], np.array([[1.0, 1.0]]), ["p", "q"], np.zeros(1)).raw[0]
>>> broken = bank.score(["s"], np.array([[1.0, -1.0]]), ["p", "q"], np.zeros(1)).raw[0]
>>> bool(broken > 10 * usual)
True
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import ArrayBank, BankParams
from aiops.detectors.base import BankScores


class MahalanobisParams(BankParams):
    min_count: int = Field(30, description="points of a series learned before this detector's scores count")
    alpha: float = Field(0.0005, gt=0.0, le=1.0, description="weight of a new point once past the cumulative start")
    shrinkage: float = Field(0.1, ge=0.0, le=1.0, description="pull of the covariance towards its diagonal")
    rel_floor: float = Field(1e-3, ge=0.0, description="sd floor relative to the level, for near-constant sensors")
    abs_floor: float = Field(1e-9, ge=0.0, description="absolute sd floor, added to the relative one")
    clip: float | None = Field(6.0, gt=0.0, description="points further than this (sqrt T2 per feature) learn less")
    width: float = Field(3.0, gt=0.0, description="expected range is mean +- width * sd")


class MahalanobisBank(ArrayBank):
    """T-squared of the row; each feature's share is |d_i (S^-1 d)_i|."""

    name: ClassVar[str] = "mahalanobis"
    Params: ClassVar[type[BankParams]] = MahalanobisParams
    multivariate_only: ClassVar[bool] = True
    joint: ClassVar[bool] = True
    learns_partial: ClassVar[bool] = True
    derived_fields: ClassVar[tuple[str, ...]] = ("prec",)
    params: MahalanobisParams

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        f = n_features
        return {"mean": ((f,), 0.0), "cov": ((f, f), 0.0), "prec": ((f, f), 0.0)}

    def _deviation(self, rows: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = self.store.arrays  # type: ignore[union-attr]
        mean = a["mean"][rows]
        d = np.where(np.isfinite(X), X - mean, 0.0)
        prec = a["prec"][rows]
        pd = np.einsum("nij,nj->ni", prec, d)
        return mean, d, pd

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        mean, d, pd = self._deviation(rows, X)
        share = np.abs(d * pd)
        t2 = (d * pd).sum(axis=1)
        cov = self.store.arrays["cov"][rows]  # type: ignore[union-attr]
        sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0) + self._floor(mean) ** 2)
        half = self.params.width * sd
        return BankScores(raw=np.maximum(t2, 0.0), per_feature=share, expected_low=mean - half,
                          expected_high=mean + half)

    def _floor(self, mean: np.ndarray) -> np.ndarray:
        return self.params.rel_floor * np.abs(mean) + self.params.abs_floor

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        rows = self._rows(series, features, X)[mask]
        if rows.size == 0:
            return
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        x = X[mask]
        mean, d, pd = self._deviation(rows, x)
        n = a["n"][rows] + 1
        w = np.maximum(p.alpha, 1.0 / n)
        if p.clip is not None:
            t2 = np.maximum((d * pd).sum(axis=1), 0.0)
            limit = p.clip * p.clip * x.shape[1]
            w = np.where((n > p.min_count) & (t2 > limit), w * limit / np.maximum(t2, 1e-300), w)
        mean = mean + w[:, None] * d  # a missing feature has d = 0: its mean stays
        cov = (1.0 - w)[:, None, None] * (a["cov"][rows] + w[:, None, None] * d[:, :, None] * d[:, None, :])
        seen = np.isfinite(x)
        if not seen.all():  # only pairs of features the row has move (else a missing feature's variance decays)
            cov = np.where(seen[:, :, None] & seen[:, None, :], cov, a["cov"][rows])
        a["mean"][rows], a["cov"][rows], a["n"][rows] = mean, cov, n
        a["prec"][rows] = np.linalg.inv(self._shrunk(cov, mean))

    def _shrunk(self, cov: np.ndarray, mean: np.ndarray) -> np.ndarray:
        lam = self.params.shrinkage
        diag = np.diagonal(cov, axis1=1, axis2=2)
        floor = self._floor(mean) ** 2
        eye = np.eye(cov.shape[1])
        return (1.0 - lam) * cov + (lam * diag + floor)[:, :, None] * eye
