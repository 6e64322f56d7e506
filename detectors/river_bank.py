"""River's online anomaly and change detectors, one estimator per series, cloned from one spec.

``model`` picks the detector:

- ``HalfSpaceTrees``: ``river.anomaly.HalfSpaceTrees`` on the row's features,
  behind ``river.preprocessing.MinMaxScaler`` when ``scale`` is true;
- ``GaussianScorer``: ``river.anomaly.GaussianScorer`` per feature, scored as
  the surprisal ``-log(1 - s)`` of its two-sided score ``s`` (the row's
  largest);
- ``PredictiveAnomalyDetection``: ``river.anomaly.PredictiveAnomalyDetection``
  over a ``river.time_series`` forecaster (``HoltWinters`` or ``SNARIMAX``)
  per feature: the squared one-step forecast error over River's dynamic
  threshold (not clipped at 1: calibration takes any scale);
- ``PageHinkley``: ``river.drift.PageHinkley`` per feature, the larger of its
  two cumulative statistics over its threshold, so a level shift shows as a
  rising score.

``options`` go to the River constructor (``n_trees``, ``seed``, ``alpha``
...). Scoring never changes an estimator; learning scores the point the way
River does (which updates PAD's error statistics), then learns it. A
series' exported state is a copy of the estimator itself, for use in the
same process only (``portable_state = False``): a River estimator is an
arbitrary object graph (closures, partials, Rust-backed containers), and
nothing read from Kafka may rebuild one, so the engine does not write it
to the state topic and a restored series' River detector learns afresh
(it is warm again after ``min_count`` points).

>>> import numpy as np
>>> bank = RiverBank(model="GaussianScorer", options={"grace_period": 10})
>>> rng = np.random.default_rng(0)
>>> for t in range(100):
...     x = rng.normal(size=(1, 1))
...     bank.learn(["s"], x, ["v"], np.array([float(t)]), np.array([True]))
>>> usual, spike = bank.score(["s", "s"], np.array([[0.1], [8.0]]), ["v"], np.zeros(2)).raw
>>> bool(spike > 10 * usual)
True
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops.detectors.base import BankBase, BankScores
from aiops.detectors.config import describe_problems
from aiops.detectors.core.errors import ConfigError, InputError

_NOT_READY = (IndexError, ValueError, ZeroDivisionError, TypeError)
MODELS = ("HalfSpaceTrees", "GaussianScorer", "PredictiveAnomalyDetection", "PageHinkley")


class RiverParams(BaseModel):
    """Which River estimator each series gets, and how it is built."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["HalfSpaceTrees", "GaussianScorer", "PredictiveAnomalyDetection", "PageHinkley"] = Field(
        "HalfSpaceTrees", description="the River estimator each series gets")
    scale: bool = Field(True, description="HalfSpaceTrees: MinMaxScaler first (the trees expect [0, 1] features)")
    forecaster: Literal["HoltWinters", "SNARIMAX"] = Field("HoltWinters",
                                                          description="PredictiveAnomalyDetection's forecaster")
    forecaster_options: dict[str, Any] = Field(default_factory=dict, description="forecaster constructor arguments")
    options: dict[str, Any] = Field(default_factory=dict, description="the River estimator's constructor arguments")
    min_count: int = Field(30, ge=1, description="points a series needs before it is trusted")


def _build_forecaster(params: RiverParams) -> Any:
    from river import time_series

    if params.forecaster == "HoltWinters":
        return time_series.HoltWinters(**{"alpha": 0.3, "beta": 0.05, **params.forecaster_options})
    return time_series.SNARIMAX(**{"p": 2, "d": 0, "q": 1, **params.forecaster_options})


def build_estimator(params: RiverParams) -> Any:
    """The fresh River estimator of one feature (per-feature models) or of the whole row (HalfSpaceTrees)."""
    from river import anomaly, drift, preprocessing

    if params.model == "HalfSpaceTrees":
        trees = anomaly.HalfSpaceTrees(**{"seed": 42, **params.options})
        return preprocessing.MinMaxScaler() | trees if params.scale else trees
    if params.model == "GaussianScorer":
        return anomaly.GaussianScorer(**params.options)
    if params.model == "PredictiveAnomalyDetection":
        return anomaly.PredictiveAnomalyDetection(_build_forecaster(params), **params.options)
    return drift.PageHinkley(**params.options)


class _Series:
    """One series' estimators (one for the row, or one per feature) and its point count."""

    def __init__(self, estimators: list[Any]) -> None:
        self.estimators = estimators
        self.n = 0


class RiverBank(BankBase):
    """A ``DetectorBank`` holding one River estimator per series (see the module doc)."""

    name: ClassVar[str] = "river"
    Params: ClassVar[type[BaseModel]] = RiverParams
    portable_state: ClassVar[bool] = False  # estimators never go to the state topic: restored series re-learn

    def __init__(self, **params: Any) -> None:
        try:
            self.params = RiverParams.model_validate(params)
        except ValidationError as exc:
            raise ConfigError(f"detector river: {'; '.join(describe_problems(exc, 'params'))}") from None
        try:
            self._template = build_estimator(self.params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"detector river: {self.params.model}: {exc}") from None
        self._per_feature = self.params.model != "HalfSpaceTrees"
        self._series: dict[str, _Series] = {}

    def __repr__(self) -> str:
        return f"RiverBank({self.params.model_dump()!r})"

    # -- helpers -------------------------------------------------------------------------------
    def _check(self, series: Sequence[str], X: np.ndarray, features: Sequence[str]) -> None:
        if X.ndim != 2 or X.shape != (len(series), len(features)):
            raise InputError(f"river: X has shape {X.shape}, expected ({len(series)}, {len(features)})")
        if not np.isfinite(X).all():
            raise InputError("river: rows must be complete (no NaN or infinite features)")

    def _state(self, sid: str, n_features: int, create: bool) -> _Series | None:
        state = self._series.get(sid)
        if state is None and create:
            count = n_features if self._per_feature else 1
            state = self._series[sid] = _Series([self._template.clone() for _ in range(count)])
        return state

    def _score_row(self, state: _Series, row: dict[str, float], values: list[float]) -> list[float]:
        """Per-estimator scores of one row, without changing anything."""
        model = self.params.model
        ests = state.estimators
        if model == "HalfSpaceTrees":
            return [float(ests[0].score_one(row))]
        if model == "GaussianScorer":
            return [-math.log(max(1.0 - float(e.score_one(None, v)), 1e-300)) for e, v in zip(ests, values)]
        if model == "PredictiveAnomalyDetection":
            return [_pad_score(e, v) for e, v in zip(ests, values)]
        return [_page_hinkley_score(e, v) for e, v in zip(ests, values)]

    def _learn_row(self, state: _Series, row: dict[str, float], values: list[float]) -> None:
        model = self.params.model
        ests = state.estimators
        if model == "HalfSpaceTrees":
            ests[0].learn_one(row)
        elif model == "GaussianScorer":
            for e, v in zip(ests, values):
                e.learn_one(None, v)
        elif model == "PredictiveAnomalyDetection":
            for e, v in zip(ests, values):
                try:
                    e.score_one(None, v)  # River's PAD updates its error statistics while scoring
                except _NOT_READY:  # the forecaster has not seen enough points to forecast yet
                    pass
                e.learn_one(None, v)
        else:
            for e, v in zip(ests, values):
                e.update(v)
        state.n += 1

    # -- DetectorBank --------------------------------------------------------------------------
    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        self._check(series, X, features)
        f = len(features)
        raw = np.zeros(len(series))
        per_feature = np.zeros((len(series), f)) if self._per_feature else None
        for i, (sid, values) in enumerate(zip(series, X.tolist())):
            state = self._state(sid, f, create=False)
            if state is None or state.n == 0:
                continue
            scores = self._score_row(state, dict(zip(features, values)), values)
            clean = [s if math.isfinite(s) else 0.0 for s in scores]
            raw[i] = max(clean)
            if per_feature is not None:
                per_feature[i] = clean
        return BankScores(raw=raw, per_feature=per_feature)

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        self._check(series, X, features)
        for sid, values, keep in zip(series, X.tolist(), mask.tolist()):
            if keep:
                state = self._state(sid, len(features), create=True)
                assert state is not None
                self._learn_row(state, dict(zip(features, values)), values)

    def warm(self, series: Sequence[str]) -> np.ndarray:
        need = self.params.min_count
        return np.fromiter((s in self._series and self._series[s].n >= need for s in series), dtype=bool,
                           count=len(series))

    def export_state(self, series_id: str) -> object | None:
        state = self._series.get(series_id)
        return None if state is None else copy.deepcopy(state)

    def import_state(self, series_id: str, state: object) -> None:
        if not isinstance(state, _Series):
            raise InputError("river: not a state this bank exported")
        self._series[series_id] = copy.deepcopy(state)

    def forget(self, series_id: str) -> None:
        self._series.pop(series_id, None)


def _pad_score(pad: Any, y: float) -> float:
    """PAD's squared forecast error over its dynamic threshold, read without updating anything."""
    model = pad.predictive_model
    try:
        y_pred = float(model.forecast(pad.horizon)[0])
    except _NOT_READY:
        return 0.0
    if pad.iter < max(pad.warmup_period, 2):
        return 0.0
    error = (y_pred - y) ** 2
    threshold = pad.dynamic_mae.get() + pad.n_std * math.sqrt(max(pad.dynamic_se_variance.get(), 0.0))
    return error / threshold if threshold > 0 else 0.0


def _page_hinkley_score(ph: Any, x: float) -> float:
    """The Page-Hinkley statistic ``x`` would reach, over the detector's threshold (its update, replayed)."""
    if ph.drift_detected or ph._x_mean.n == 0:
        return 0.0
    n = ph._x_mean.n + 1
    mean = ph._x_mean.get() + (x - ph._x_mean.get()) / n
    dev = x - mean
    up = ph.alpha * ph._sum_increase + dev - ph.delta
    down = ph.alpha * ph._sum_decrease + dev + ph.delta
    test = max(up - min(ph._min_increase, up), max(ph._max_decrease, down) - down)
    return float(test / ph.threshold)
