"""A PyOD detector per series over a sliding window of its recent normal points.

Each series keeps its recent learned (masked-in) points. Once it has
``min_points``, a PyOD model (ECOD by default; COPOD or IForest) is fitted on
its last ``window_size`` of them, and refitted after every ``refit_every`` new
points. A series' state is its window plus the points its current fit was
made from, so a restored state refits to the very same model. Fits run on a
worker thread (``background=True``): until a refit is ready the previous fit
keeps scoring, so scoring never waits for a fit. A point is scored with the
model's ``decision_function`` against the fit made before it (score first,
then learn).

>>> import numpy as np
>>> bank = PyODBank(window_size=64, min_points=32, refit_every=16, background=False)
>>> rng = np.random.default_rng(0)
>>> for t in range(64):
...     bank.learn(["a"], rng.normal(size=(1, 2)), ["x", "y"], np.array([t]), np.array([True]))
>>> bank.warm(["a", "b"]).tolist()
[True, False]
>>> normal, spike = bank.score(["a", "a"], np.array([[0.0, 0.1], [9.0, -9.0]]), ["x", "y"], np.zeros(2)).raw
>>> bool(spike > normal)
True
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Sequence

import numpy as np
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops.detectors.base import BankBase, BankScores, check_rows
from aiops.detectors.core.errors import ConfigError, InputError

log = structlog.get_logger(__name__)

SCALE_FLOOR = 1e-9


class PyODConfig(BaseModel):
    """Which PyOD model, over how many recent points, refitted how often."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["ecod", "copod", "iforest"] = Field("ecod",
            description="the PyOD model: ECOD, COPOD or isolation forest")
    window_size: int = Field(256, ge=8, description="recent learned points kept per series")
    min_points: int = Field(32, ge=4, description="points needed before the first fit")
    refit_every: int = Field(64, ge=1, description="refit after this many newly learned points")
    background: bool = Field(True, description="fit on a worker thread (False: inline, for tests)")
    workers: int = Field(1, ge=1, description="threads fitting models")
    n_estimators: int = Field(50, ge=1, description="trees, for iforest")
    expected_quantile: float = Field(0.005, gt=0, lt=0.5, description="expected range = these window quantiles")
    beyond_window: bool = Field(
        True, description="a point outside the window's range scores its distance beyond it (in robust sds) on top "
                          "of the model's score, which alone is bounded by the window (False: the model's numbers)")
    fast_ecdf: bool = Field(
        True, description="ecod/copod: score from the fit's sorted columns (same numbers as decision_function, faster)"
    )
    seed: int = Field(0, description="random seed (isolation forest)")


class PyODInputError(InputError):
    """Rows handed to the bank do not match the series and feature names given with them."""


def make_model(config: PyODConfig) -> Any:
    """A fresh, unfitted PyOD model as the configuration names it.

    >>> type(make_model(PyODConfig(model="copod"))).__name__
    'COPOD'
    """
    if config.model == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD(n_jobs=1)
    if config.model == "copod":
        from pyod.models.copod import COPOD

        return COPOD(n_jobs=1)
    from pyod.models.iforest import IForest

    return IForest(n_estimators=config.n_estimators, random_state=config.seed, n_jobs=1)


@dataclass(slots=True)
class ColumnECDF:
    """A window's sorted columns and power sums: enough to score one new point as ECOD/COPOD do.

    PyOD's ``decision_function`` appends the point to the training window,
    takes each column's empirical CDF from both tails and the sign of each
    column's skewness, and sums per-feature tail scores. Counting against the
    sorted columns gives the same numbers without re-sorting the window.

    >>> from pyod.models.ecod import ECOD
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> x = np.array([[0.2, -2.5, 1.0]])
    >>> ecdf = ColumnECDF.of(X)
    >>> bool(np.isclose(ecdf.score(x[0], "ecod"), ECOD().fit(X).decision_function(x)[0]))
    True
    """

    sorted_cols: np.ndarray
    sums: np.ndarray

    @classmethod
    def of(cls, points: np.ndarray) -> ColumnECDF:
        return cls(np.sort(points, axis=0), np.stack([points.sum(0), (points**2).sum(0), (points**3).sum(0)]))

    def score(self, x: np.ndarray, model: str) -> float:
        n = len(self.sorted_cols)
        m = n + 1
        le = (self.sorted_cols <= x).sum(axis=0) + 1
        ge = (self.sorted_cols >= x).sum(axis=0) + 1
        u_l, u_r = -np.log(le / m), -np.log(ge / m)
        s1, s2, s3 = self.sums[0] + x, self.sums[1] + x**2, self.sums[2] + x**3
        mean = s1 / m
        third_moment = s3 / m - 3 * mean * s2 / m + 2 * mean**3
        sign = np.sign(third_moment)
        u_skew = np.where(sign > 0, u_r, np.where(sign < 0, u_l, u_l + u_r))
        if model == "ecod":
            out = np.maximum(np.maximum(u_l, u_r), u_skew)
        else:
            out = np.maximum(u_skew, (u_l + u_r) / 2)
        return float(out.sum())


@dataclass(slots=True)
class Fit:
    """One fitted model with the window's robust centre, scale and expected range per feature."""

    model: Any
    ecdf: ColumnECDF | None
    median: np.ndarray
    scale: np.ndarray
    low: np.ndarray
    high: np.ndarray
    lowest: np.ndarray
    highest: np.ndarray
    n_points: int
    seconds: float
    thread: str


@dataclass(slots=True)
class SeriesWindow:
    """One series: its recent learned points and its current fit."""

    features: tuple[str, ...]
    points: deque[np.ndarray]
    since_fit: int = 0
    fit_points: np.ndarray | None = None
    fit: Fit | None = None
    pending: bool = False
    generation: int = 0


def fit_window(config: PyODConfig, points: np.ndarray) -> Fit:
    """Fit a model on a window of points (runs on whichever thread calls it)."""
    started = time.perf_counter()
    model = make_model(config)
    model.fit(points)
    q1, median, q3 = np.percentile(points, [25, 50, 75], axis=0)
    low, high = np.quantile(points, [config.expected_quantile, 1 - config.expected_quantile], axis=0)
    scale = np.maximum((q3 - q1) / 1.349, np.maximum(points.std(axis=0), SCALE_FLOOR))
    ecdf = ColumnECDF.of(points) if config.fast_ecdf and config.model in ("ecod", "copod") else None
    return Fit(model, ecdf, median, scale, low, high, points.min(axis=0), points.max(axis=0), len(points),
               time.perf_counter() - started,
               threading.current_thread().name)


def beyond_range(x: np.ndarray, fit: Fit) -> float:
    """How far a point lies outside its window's range, summed over features, in robust sds.

    ECOD and COPOD give every point beyond the window's last value the same
    score, and IForest nearly so: alone they cannot tell 5 sds from 50, nor
    reach the far tail an alert threshold asks for. This term can.

    >>> fit = fit_window(PyODConfig(), np.random.default_rng(1).normal(size=(256, 2)))
    >>> beyond_range(np.array([0.0, 0.5]), fit)
    0.0
    >>> near, far = (beyond_range(np.array([v, 0.0]), fit) for v in (5.0, 50.0))
    >>> bool(0 < near < far)
    True
    """
    excess = np.maximum(x - fit.highest, 0.0) + np.maximum(fit.lowest - x, 0.0)
    return float((excess / fit.scale).sum())


class PyODBank(BankBase):
    """``DetectorBank`` keeping one PyOD model per series; see the module docstring."""

    name: ClassVar[str] = "pyod"
    joint: ClassVar[bool] = True  # models whole windows of rows
    learns_late: ClassVar[bool] = True  # a row joins the window whenever it is learned

    def __init__(self, config: PyODConfig | None = None, **params: Any) -> None:
        try:
            self.config = config if config is not None else PyODConfig(**params)
        except ValidationError as exc:
            raise ConfigError(f"invalid pyod settings: {exc}") from None
        if self.config.min_points > self.config.window_size:
            raise ConfigError("pyod: min_points must not exceed window_size")
        self._series: dict[str, SeriesWindow] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[Fit]] = set()
        self._lock = threading.Lock()

    # -- the DetectorBank protocol ---------------------------------------------------------

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        X = _check_rows(series, X, features)
        n, f = X.shape
        raw = np.zeros(n)
        per_feature = np.zeros((n, f))
        low = np.full((n, f), np.nan)
        high = np.full((n, f), np.nan)
        key = tuple(features)
        for i, s in enumerate(series):
            state = self._series.get(s)
            fit = state.fit if state is not None and state.features == key else None
            if fit is None:
                continue
            if fit.ecdf is not None:
                raw[i] = fit.ecdf.score(X[i], self.config.model)
            else:
                raw[i] = float(fit.model.decision_function(X[i : i + 1])[0])
            if self.config.beyond_window:
                raw[i] += beyond_range(X[i], fit)
            per_feature[i] = np.abs(X[i] - fit.median) / fit.scale
            low[i], high[i] = fit.low, fit.high
        return BankScores(raw, per_feature, low, high)

    def learn(
        self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray, mask: np.ndarray
    ) -> None:
        X = _check_rows(series, X, features)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(series),):
            raise PyODInputError(f"mask must have one flag per row ({len(series)}), got shape {mask.shape}")
        key = tuple(features)
        for i in np.flatnonzero(mask):
            state = self._state_for(series[i], key)
            state.points.append(X[i].copy())
            state.since_fit += 1
            self._maybe_fit(series[i], state)

    def learn_late(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> None:
        """Rows scored some steps ago join the window (nothing here moves with every row)."""
        self.learn(series, X, features, times, np.ones(len(series), dtype=bool))

    def warm(self, series: Sequence[str]) -> np.ndarray:
        return np.array([(st := self._series.get(s)) is not None and st.fit is not None for s in series], dtype=bool)

    def export_state(self, series_id: str) -> object | None:
        state = self._series.get(series_id)
        if state is None:
            return None
        points = np.array(state.points) if state.points else np.zeros((0, len(state.features)))
        return {"features": list(state.features), "points": points, "since_fit": state.since_fit,
                "fit_points": state.fit_points}

    def import_state(self, series_id: str, state: object) -> None:
        try:
            data = dict(state)  # type: ignore[call-overload]
            features = tuple(data["features"])
            points = np.asarray(data["points"], dtype=np.float64)
            since_fit = int(data.get("since_fit", 0))
            fit_points = data.get("fit_points")
            fit_points = None if fit_points is None else np.asarray(fit_points, dtype=np.float64)
        except (TypeError, KeyError, ValueError) as exc:
            raise PyODInputError(f"unreadable pyod state for {series_id!r}: {exc}") from None
        if points.ndim != 2 or points.shape[1] != len(features) or (
            fit_points is not None and (fit_points.ndim != 2 or fit_points.shape[1] != len(features))
        ):
            raise PyODInputError(f"pyod state for {series_id!r} does not match its {len(features)} features")
        self.forget(series_id)
        fresh = self._state_for(series_id, features)
        fresh.points.extend(points[-self.config.window_size :])
        if fit_points is not None and len(fit_points) >= self.config.min_points:
            self._start_fit(series_id, fresh, fit_points[-self.config.window_size :])
        fresh.since_fit = since_fit
        self._maybe_fit(series_id, fresh)

    def forget(self, series_id: str) -> None:
        state = self._series.pop(series_id, None)
        if state is not None:
            state.generation += 1  # a fit still running for it is dropped when it lands

    # -- fitting ---------------------------------------------------------------------------

    def fit_info(self, series_id: str) -> dict[str, Any] | None:
        """What the current fit of a series was made from, where and how fast."""
        state = self._series.get(series_id)
        if state is None or state.fit is None:
            return None
        return {"n_points": state.fit.n_points, "seconds": state.fit.seconds, "thread": state.fit.thread}

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for queued fits to land; True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                pending[0].result(timeout=remaining)
            except Exception:  # reported by the fit's own callback
                pass

    def close(self) -> None:
        """Stop the fitting thread(s) after the queued fits."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _state_for(self, series_id: str, features: tuple[str, ...]) -> SeriesWindow:
        state = self._series.get(series_id)
        if state is None or state.features != features:
            if state is not None:
                self.forget(series_id)
            state = SeriesWindow(features, deque(maxlen=self.config.window_size))
            self._series[series_id] = state
        return state

    def _maybe_fit(self, series_id: str, state: SeriesWindow) -> None:
        cfg = self.config
        if state.pending or len(state.points) < cfg.min_points:
            return
        if state.fit is not None and state.since_fit < cfg.refit_every:
            return
        state.since_fit = 0
        self._start_fit(series_id, state, np.array(state.points))

    def _start_fit(self, series_id: str, state: SeriesWindow, points: np.ndarray) -> None:
        cfg = self.config
        state.fit_points = points
        if not cfg.background:
            state.fit = fit_window(cfg, points)
            return
        state.pending = True
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="pyod-fit")
        future = self._executor.submit(fit_window, cfg, points)
        with self._lock:
            self._pending.add(future)
        generation = state.generation
        future.add_done_callback(lambda fut: self._landed(fut, series_id, state, generation))

    def _landed(self, future: Future[Fit], series_id: str, state: SeriesWindow, generation: int) -> None:
        try:
            fit = future.result()
            if state.generation == generation and self._series.get(series_id) is state:
                state.fit = fit
        except Exception:  # a failed fit keeps the previous one scoring
            log.exception("pyod.fit_failed", series=series_id, model=self.config.model)
        finally:
            state.pending = False
            with self._lock:
                self._pending.discard(future)


def _check_rows(series: Sequence[str], X: np.ndarray, features: Sequence[str]) -> np.ndarray:
    return check_rows(series, X, features, error=PyODInputError)
