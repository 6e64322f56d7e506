"""Throughput and state size of the default detection stack, on synthetic series.

Prints points per second for a given number of concurrent series (one
``process`` call per step of all series, as a worker batch would carry) and
the bytes of exported state per univariate series. ``python -m
aiops.detectors.evaluation.bench`` prints the steady state (rings full) and the share
of it spent in the array step rather than in building events and scores.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine


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


def bench_steady(n_series: int, steps: int = 100, warm_steps: int = 600, config: DetectionConfig | None = None,
                 ) -> tuple[float, float]:
    """(points/s through ``process`` once every ring is full, share of that time spent scoring a step's arrays).

    The first ``warm_steps`` steps fill the rings and start the learn delay (not timed); the share is
    the time inside the groups' array step (banks, calibration, rings), the
    rest being the building of events into arrays and of ``Score`` objects.
    """
    engine = build_engine(config)
    rng = np.random.default_rng(0)
    per_batch = max(1, 1000 // n_series)

    def batches(first: int, last: int) -> list[list[Event]]:
        return [[e for k in range(s, min(s + per_batch, last)) for e in synthetic_events(n_series, k, rng)]
                for s in range(first, last, per_batch)]

    for batch in batches(0, warm_steps):
        engine.process(batch)
    timed = batches(warm_steps, warm_steps + steps)
    groups = list(engine._groups.values())
    inside = [0.0]
    for group in groups:
        group.run = _timed(group.run, inside)  # type: ignore[method-assign]
    start = time.perf_counter()
    for batch in timed:
        engine.process(batch)
    elapsed = time.perf_counter() - start
    for group in groups:
        del group.run
    return steps * n_series / elapsed, inside[0] / elapsed


def _timed(run: Callable[..., Any], total: list[float]) -> Callable[..., Any]:
    """``run``, adding the seconds each call takes to ``total[0]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - start
    return wrapper


def main() -> None:
    """``python -m aiops.detectors.evaluation.bench [SERIES...]``: steady-state points/s of the default stack."""
    import logging
    import sys

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for n in [int(a) for a in sys.argv[1:]] or [1, 1000]:
        steps = 100 if n >= 100 else 2000
        rate, share = bench_steady(n, steps=steps, warm_steps=max(600, 1000 // n))
        print(f"{n:>6} series, rings full: {rate:>10,.0f} points/s through process(), "
              f"{share:.0%} of it in the array step")


if __name__ == "__main__":
    main()
