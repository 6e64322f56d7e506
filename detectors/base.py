"""The detector contract, in River's style.

A detector sees one series' feature dicts in time order. ``score_one`` says
how abnormal ``x`` is against what was learned so far (higher = more
anomalous, any scale: calibration is a separate step); ``learn_one`` then
updates the state. ``score_many`` scores a batch against the current state
without learning. Detectors must pickle (their state is snapshotted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from aiops.detectors.config import DetectionConfig
    from aiops.pipeline.shapes import Event, Score


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

    def export_state(self, series_ids: Iterable[str]) -> dict[str, bytes]: ...

    def import_state(self, states: Mapping[str, bytes]) -> None: ...

    def forget(self, series_ids: Iterable[str]) -> None: ...

    def series_ids(self) -> list[str]: ...

    def reconfigure(self, config: "DetectionConfig") -> None: ...

    def feedback(self, series_id: str, time: float, verdict: str) -> None: ...
