"""The detector contract, in River's style.

A detector sees one series' feature dicts in time order. ``score_one`` says
how abnormal ``x`` is against what was learned so far (higher = more
anomalous, any scale: calibration is a separate step); ``learn_one`` then
updates the state. ``score_many`` scores a batch against the current state
without learning. A bank's exported state is plain data (numbers, strings,
NumPy arrays, lists and dicts of them) that ``aiops.detectors.core.state_codec``
encodes for the state topic; nothing read back is ever unpickled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

from aiops.detectors.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from aiops.detectors.config import DetectionConfig
    from aiops.detectors.core.shapes import Event, Score


@runtime_checkable
class Detector(Protocol):
    def learn_one(self, x: dict[str, float]) -> None: ...

    def score_one(self, x: dict[str, float]) -> float: ...

    def score_many(self, xs: Sequence[dict[str, float]]) -> list[float]: ...


class DetectorBase:
    """Default ``score_many`` for detectors that only score one point at a time."""

    def learn_one(self, x: dict[str, float]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_one(self, x: dict[str, float]) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_many(self, xs: Sequence[dict[str, float]]) -> list[float]:
        return [self.score_one(x) for x in xs]


class ScoringEngine(Protocol):
    """What the pipeline asks of the detection layer (built by ``aiops.detectors.engine.build_engine``).

    ``process`` is causal: each event is scored against the state learned from
    the events before it (its series' earlier events in this and earlier
    calls), then learned from, unless it was flagged anomalous or ``learn`` says
    no for it (maintenance windows). Events of many series may be mixed in one
    call; the result has one ``Score`` per event, in the same order.
    """

    def process(self, events: Sequence["Event"], *, learn: Sequence[bool] | None = None) -> list["Score"]: ...

    def process_notable(self, events: Sequence["Event"], *,
                        learn: Sequence[bool] | None = None) -> list["Score | None"]:
        """``process``, with None for the events neither in an anomaly episode nor ending one."""
        ...

    def export_state(self, series_ids: Iterable[str]) -> dict[str, bytes]: ...

    def import_state(self, states: Mapping[str, bytes]) -> None: ...

    def forget(self, series_ids: Iterable[str]) -> None: ...

    def series_ids(self) -> list[str]: ...

    def reconfigure(self, config: "DetectionConfig") -> None: ...

    def feedback(self, series_id: str, time: float, verdict: str) -> None: ...


class BankScores(NamedTuple):
    """Raw scores of one step of many series (one row per series).

    ``per_feature`` (n, f) says how much each feature contributed (any
    non-negative scale), ``expected_low``/``expected_high`` (n, f) the range
    the detector expected for each feature; each may be None when the
    detector cannot tell.
    """

    raw: "np.ndarray"
    per_feature: "np.ndarray | None" = None
    expected_low: "np.ndarray | None" = None
    expected_high: "np.ndarray | None" = None


class DetectorBank(Protocol):
    """One detector kept for many series at once, fed one time step at a time.

    The engine splits a batch into steps in which every series appears at most
    once (the k-th point of each series in the batch is in step k), groups
    series sharing the same feature names, and for each step calls ``score``
    on all those rows at once (vectorised across series), combines, then calls
    ``learn`` with every row of the step and a mask of the rows to learn from
    (not flagged, not paused). ``score`` must not change state; ``learn``
    moves baselines on the masked rows only, while a sequential test's own
    statistic (a CUSUM sum, a smoothed residual) advances on every row, so
    that a finished alarm does not stay frozen in it. ``learn`` must not
    look at other rows' futures. State per series is exported as a
    picklable object.
    """

    name: str

    def score(self, series: Sequence[str], X: "np.ndarray", features: Sequence[str], times: "np.ndarray") -> BankScores: ...

    def learn(self, series: Sequence[str], X: "np.ndarray", features: Sequence[str], times: "np.ndarray", mask: "np.ndarray") -> None: ...

    def warm(self, series: Sequence[str]) -> "np.ndarray":
        """Boolean per series: has it seen enough points to be trusted?"""
        ...

    def export_state(self, series_id: str) -> object | None: ...

    def import_state(self, series_id: str, state: object) -> None: ...

    def forget(self, series_id: str) -> None: ...


class BankInputError(InputError):
    """Rows handed to a bank do not match the series and feature names given with them."""


def check_rows(series: Sequence[str], X: "np.ndarray", features: Sequence[str], *,
               error: type[InputError] = BankInputError) -> "np.ndarray":
    """The rows as a float64 (n, f) array, or ``error`` naming what is wrong.

    >>> check_rows(["a"], [[1.0, 2.0]], ["x", "y"]).shape
    (1, 2)
    >>> try:
    ...     check_rows(["a"], [[float("nan")]], ["x"])
    ... except InputError as exc:
    ...     print(exc)
    non-finite feature values for series ['a']
    """
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape != (len(series), len(features)):
        raise error(f"expected {len(series)} rows of {len(features)} features, got shape {X.shape}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        names = [series[i] for i in np.flatnonzero(bad)[:5]]
        raise error(f"non-finite feature values for series {names}")
    return X
