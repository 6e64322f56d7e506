"""Scoring series side by side in slices of steps, saying after each slice how many rows were done.

The engine keeps each series' state from one call to the next, as it does for
the stream, so scoring rows ``0..k`` and then ``k..n`` gives the arrays that
scoring ``0..n`` at once gives. The long commands use it to draw progress.

>>> import numpy as np
>>> from structlog.testing import capture_logs
>>> from aiops.detectors.config import DetectionConfig
>>> from aiops.detectors.engine import build_engine
>>> rng = np.random.default_rng(1)
>>> items = [("a", np.arange(700.0), rng.normal(size=(700, 1))), ("b", np.arange(300.0), rng.normal(size=(300, 1)))]
>>> done = []
>>> with capture_logs():
...     whole = build_engine(DetectionConfig()).score_many_series(items, ["v"])
...     sliced = score_in_slices(build_engine(DetectionConfig()), items, ["v"], on_rows=done.append, steps=256)
>>> done
[512, 300, 188]
>>> all(np.array_equal(w.anomaly_score, s.anomaly_score) and np.array_equal(w.episode, s.episode)
...     for (_, w), (_, s) in zip(whole, sliced))
True
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from aiops.detectors.engine import StepResult

Item = tuple[str, np.ndarray, np.ndarray]


def score_in_slices(engine, items: Sequence[Item], features: Sequence[str], *,  # noqa: ANN001 - ScoringEngine
                    on_rows: Callable[[int], None] | None = None,
                    steps: int = 512) -> list[tuple[list[str], StepResult]]:
    """``engine.score_many_series(items, features)``, ``steps`` rows of each series at a time.

    ``on_rows(n)`` is called after each slice with the rows it scored; without it the
    series are scored in one call.
    """
    if on_rows is None or not items or any(len(times) == 0 for _, times, _ in items):
        results = engine.score_many_series(items, list(features))
        if on_rows is not None:
            on_rows(sum(len(times) for _, times, _ in items))
        return results
    parts: list[list[tuple[list[str], StepResult]]] = [[] for _ in items]
    longest = max(len(times) for _, times, _ in items)
    for start in range(0, longest, steps):
        live = [i for i, (_, times, _) in enumerate(items) if len(times) > start]
        sliced = [(items[i][0], np.asarray(items[i][1])[start:start + steps],
                   np.asarray(items[i][2])[start:start + steps]) for i in live]
        for i, result in zip(live, engine.score_many_series(sliced, list(features))):
            parts[i].append(result)
        on_rows(sum(len(times) for _, times, _ in sliced))
    return [(chunks[0][0], joined([r for _, r in chunks])) for chunks in parts]


def joined(results: Sequence[StepResult]) -> StepResult:
    """One result of consecutive slices' results, each array concatenated along its rows."""
    if len(results) == 1:
        return results[0]
    values = {}
    for field in dataclasses.fields(StepResult):
        arrays = [getattr(r, field.name) for r in results]
        values[field.name] = None if any(a is None for a in arrays) else np.concatenate(arrays)
    return StepResult(**values)
