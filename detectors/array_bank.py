"""The common frame of the built-in banks: parameters, per-series slots, warm-up, state export.

A bank built on it declares a pydantic ``Params`` model, the per-series
arrays it needs (``_fields``) and implements ``score`` and ``learn`` over
rows of those arrays; everything else (one feature layout per bank, state
round trips, forgetting) lives here once.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops.detectors.base import BankBase
from aiops.detectors.config import describe_problems
from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.core.state_codec import ArrayTable
from aiops.detectors.slots import SlotStore


class BankParams(BaseModel):
    """Parameters every built-in bank understands."""

    model_config = ConfigDict(extra="forbid")

    min_count: int = Field(20, description="points of a series learned before this detector's scores count")


class ArrayBank(BankBase):
    """Base of the vectorised banks (see ``DetectorBank`` and ``BankBase`` in ``aiops.detectors.base``)."""

    name: ClassVar[str] = "bank"
    Params: ClassVar[type[BankParams]] = BankParams
    accepts_missing: ClassVar[bool] = True  # NaN features are scored and skipped by learning
    learns_late: ClassVar[bool] = True
    chart_fields: ClassVar[tuple[str, ...]] = ()  # advanced by ``learn`` on every row, never by ``learn_late``
    derived_fields: ClassVar[tuple[str, ...]] = ()  # recomputed from the others (a covariance's inverse)

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params.model_validate(params)
        except ValidationError as exc:
            raise ConfigError(f"detector {self.name}: {'; '.join(describe_problems(exc, 'params'))}") from None
        self.features: tuple[str, ...] | None = None
        self.store: SlotStore | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({args})"

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        raise NotImplementedError

    def _bind(self, features: Sequence[str]) -> SlotStore:
        feats = tuple(features)
        if self.store is None or self.features is None:
            self.features = feats
            self.store = SlotStore({"n": ((), 0), **self._fields(len(feats))})
        elif feats != self.features:
            raise InputError(f"{self.name}: features {list(feats)} differ from this bank's {list(self.features)}")
        return self.store

    def _rows(self, series: Sequence[str], features: Sequence[str], X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape != (len(series), len(features)):
            raise InputError(f"{self.name}: X has shape {X.shape}, expected ({len(series)}, {len(features)})")
        return self._bind(features).rows(series)

    def learn_late(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> None:
        """Learn rows scored some steps ago (the engine's ``learn_delay``); the charts moved when they came.

        A bank with ``chart_fields`` overrides this to move its baselines only.
        """
        if self.chart_fields:
            raise NotImplementedError(f"{self.name}: a bank with charts must learn late rows without moving them")
        self.learn(series, X, features, times, np.ones(len(series), dtype=bool))

    def warm(self, series: Sequence[str]) -> np.ndarray:
        if self.store is None:
            return np.zeros(len(series), dtype=bool)
        index = self.store.index
        if all(map(index.__contains__, series)):
            return self._warm_rows(self.store.rows(series))
        return np.fromiter((s in index and bool(self._warm_rows(np.array([index[s]]))[0]) for s in series),
                           dtype=bool, count=len(series))

    def _warm_rows(self, rows: np.ndarray) -> np.ndarray:
        """Whether the series in these slots are warm (by default: ``min_count`` rows learned)."""
        return self.store.arrays["n"][rows] >= self.params.min_count  # type: ignore[union-attr]

    def export_state(self, series_id: str) -> object | None:
        if self.store is None:
            return None
        arrays = self.store.export(series_id)
        if arrays is None:
            return None
        return {"features": self.features, "arrays": arrays}

    def import_state(self, series_id: str, state: object) -> None:
        if not isinstance(state, dict) or "features" not in state or "arrays" not in state:
            raise InputError(f"{self.name}: not a state this bank exported")
        arrays = state["arrays"]
        self._bind(state["features"]).load(series_id, arrays.arrays() if isinstance(arrays, ArrayTable) else arrays)

    def forget(self, series_id: str) -> None:
        if self.store is not None:
            self.store.drop(series_id)

    def series(self) -> list[str]:
        return [] if self.store is None else list(self.store.index)


class BaselineBank(ArrayBank):
    """A bank scoring each feature against its own exponentially weighted baseline (``cnt``, ``mean``, ``var``).

    Its ``Params`` have ``alpha`` and ``clip`` (how the baseline learns) and ``rel_floor`` and ``abs_floor``
    (the sd below which a near-constant feature is not read more sharply).
    """

    learns_partial: ClassVar[bool] = True  # the baseline learns each feature on its own, skipping NaNs

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], float | int]]:
        f = (n_features,)
        return {"cnt": (f, 0), "mean": (f, 0.0), "var": (f, 0.0)}

    def _residual(self, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Each value's distance from its baseline in sds (0 where missing)."""
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        mean, var = a["mean"][rows], a["var"][rows]
        floor = p.rel_floor * np.abs(mean) + p.abs_floor  # type: ignore[attr-defined]
        z = (X - mean) / np.sqrt(var + floor * floor)
        return np.where(np.isfinite(z), z, 0.0)

    def _learn_baseline(self, rows: np.ndarray, x: np.ndarray) -> None:
        """Move the baselines of these slots by their rows ``x`` (NaN features stay)."""
        if rows.size == 0:
            return
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        cnt, mean, var = a["cnt"][rows], a["mean"][rows], a["var"][rows]
        ew_update(cnt, mean, var, x, p.alpha, p.clip, p.min_count)  # type: ignore[attr-defined]
        a["cnt"][rows], a["mean"][rows], a["var"][rows] = cnt, mean, var
        a["n"][rows] += 1


def ew_update(n: np.ndarray, mean: np.ndarray, var: np.ndarray, x: np.ndarray, alpha: float, clip: float | None,
              min_count: int) -> None:
    """One exponentially weighted mean/variance step in place, per feature, skipping NaNs.

    The first points average cumulatively (weight ``max(alpha, 1/n)``); once
    ``min_count`` points were seen, a residual beyond ``clip`` standard
    deviations is clipped (Huber-style) so one outlier cannot drag the baseline.
    ``n`` counts points per feature here (shape like ``mean``).

    >>> n, m, v = np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1)), np.zeros((1, 1))
    >>> for value in (1.0, 2.0, 3.0):
    ...     ew_update(n, m, v, np.array([[value]]), 0.01, None, 2)
    >>> round(float(m[0, 0]), 6), n.tolist()
    (2.0, [[3]])
    """
    ok = np.isfinite(x)
    n1 = n + ok
    a = np.where(ok, np.maximum(alpha, 1.0 / np.maximum(n1, 1)), 0.0)
    d = np.where(ok, x - mean, 0.0)
    if clip is not None:
        limit = clip * np.sqrt(var) + 1e-12
        d = np.where(n >= min_count, np.minimum(np.maximum(d, -limit), limit), d)
    mean += a * d
    var[...] = (1.0 - a) * (var + a * d * d)
    n[...] = n1
