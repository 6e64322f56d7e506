"""Throughput and state size of the default detection stack, on synthetic series.

Prints points per second for a given number of concurrent series (one
``process`` call per step of all series, as a worker batch would carry) and
the bytes of exported state per univariate series.
"""

from __future__ import annotations

import time

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.engine import build_engine
from aiops.pipeline.shapes import Event


def synthetic_events(n_series: int, step: int, rng: np.random.Generator) -> list[Event]:
    values = 50.0 + 5.0 * np.sin(step / 50.0) + rng.normal(size=n_series)
    return [Event("metric", f"bench|series={i}", {"series": str(i)}, float(step), {"value": float(v)})
            for i, v in enumerate(values.tolist())]


def bench_throughput(n_series: int, points: int, config: DetectionConfig | None = None,
                     steps_per_batch: int | None = None) -> tuple[float, float, int]:
    """(points/s through ``process``, points/s of the scoring arrays alone, state bytes per series)."""
    engine = build_engine(config)
    rng = np.random.default_rng(0)
    steps = max(1, points // n_series)
    per_batch = steps_per_batch or max(1, 1000 // n_series)
    batches = [[e for k in range(s, min(s + per_batch, steps)) for e in synthetic_events(n_series, k, rng)]
               for s in range(0, steps, per_batch)]
    start = time.perf_counter()
    for batch in batches:
        engine.process(batch)
    elapsed = time.perf_counter() - start
    total = steps * n_series
    # the array path alone (what the backtest uses), on fresh series
    X = 50.0 + rng.normal(size=(n_series, steps, 1))
    times = np.arange(steps, dtype=float)
    items = [(f"arrays|{i}", times, X[i]) for i in range(n_series)]
    start = time.perf_counter()
    engine.score_many_series(items, ["value"])
    arrays_elapsed = time.perf_counter() - start
    sizes = [len(b) for b in engine.export_state([f"bench|series={i}" for i in range(min(n_series, 50))]).values()]
    return total / elapsed, total / arrays_elapsed, int(np.mean(sizes))
