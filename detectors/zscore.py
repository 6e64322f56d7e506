"""Standardised distance from an exponentially weighted baseline, per feature, optionally per season phase.

>>> import numpy as np
>>> bank = ZScoreBank(alpha=0.05)
>>> rng = np.random.default_rng(0)
>>> for t in range(200):
...     x = np.array([[10.0 + rng.normal()]])
...     _ = bank.score(["cpu"], x, ["user"], np.array([float(t)]))
...     bank.learn(["cpu"], x, ["user"], np.array([float(t)]), np.array([True]))
>>> normal = bank.score(["cpu"], np.array([[10.5]]), ["user"], np.array([200.0])).raw[0]
>>> spike = bank.score(["cpu"], np.array([[30.0]]), ["user"], np.array([200.0])).raw[0]
>>> bool(spike > 10 * normal)
True
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import BankParams, BaselineBank, ew_update
from aiops.detectors.base import BankScores


class ZScoreParams(BankParams):
    alpha: float = Field(0.005, gt=0.0, le=1.0, description="weight of a new point in the baseline")
    clip: float | None = Field(4.0, gt=0.0, description="learning clips residuals beyond this many sds")
    rel_floor: float = Field(1e-3, ge=0.0, description="sd floor relative to the level, for near-constant series")
    abs_floor: float = Field(1e-9, ge=0.0, description="absolute sd floor, added to the relative one")
    width: float = Field(3.0, gt=0.0, description="expected range is mean +- width * sd")
    period_s: float | None = Field(None, gt=0.0, description="season length in seconds (e.g. 86400); None: no season")
    buckets: int = Field(24, ge=1, le=1024, description="phases per season, each with its own baseline")
    bucket_min_count: int = Field(5, ge=1, description="points a phase needs before its baseline is used")


class ZScoreBank(BaselineBank):
    """|x - mean| / sd per feature; a row's raw score is its largest |z|."""

    name: ClassVar[str] = "zscore"
    Params: ClassVar[type[BankParams]] = ZScoreParams
    shows_expected_range: ClassVar[bool] = True  # mean +- width sds: the range an operator reads best
    params: ZScoreParams

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        f = n_features
        fields = super()._fields(f)
        if self.params.period_s is not None:
            b = self.params.buckets
            fields.update({"scnt": ((b, f), 0), "smean": ((b, f), 0.0), "svar": ((b, f), 0.0)})
        return fields

    def _phase(self, times: np.ndarray) -> np.ndarray:
        p = self.params
        assert p.period_s is not None
        return (np.floor(np.mod(times, p.period_s) / p.period_s * p.buckets).astype(np.intp)) % p.buckets

    def _baseline(self, rows: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.store.arrays  # type: ignore[union-attr]
        mean, var = a["mean"][rows], a["var"][rows]
        if self.params.period_s is not None:
            ph = self._phase(times)
            use = a["scnt"][rows, ph] >= self.params.bucket_min_count
            mean = np.where(use, a["smean"][rows, ph], mean)
            var = np.where(use, a["svar"][rows, ph], var)
        p = self.params
        floor = p.rel_floor * np.abs(mean) + p.abs_floor
        return mean, np.sqrt(var + floor * floor)

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        mean, sd = self._baseline(rows, times)
        z = np.abs(X - mean) / sd
        z = np.where(np.isfinite(z), z, 0.0)
        half = self.params.width * sd
        return BankScores(raw=z.max(axis=1), per_feature=z * z, expected_low=mean - half, expected_high=mean + half)

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        rows = self._rows(series, features, X)[mask]
        if rows.size == 0:
            return
        x, a, p = X[mask], self.store.arrays, self.params  # type: ignore[union-attr]
        self._learn_baseline(rows, x)
        if p.period_s is not None:
            ph = self._phase(times[mask])
            scnt, smean, svar = a["scnt"][rows, ph], a["smean"][rows, ph], a["svar"][rows, ph]
            ew_update(scnt, smean, svar, x, p.alpha, p.clip, p.bucket_min_count)
            a["scnt"][rows, ph], a["smean"][rows, ph], a["svar"][rows, ph] = scnt, smean, svar
