"""One CPU series with two spikes, as events: what the stage and worker tests score."""

from __future__ import annotations

import numpy as np

from aiops.detectors.core.shapes import Event

SID = "cpu|host=a"
T0 = 1_800_000_000.0


def series(values, sid: str = SID, start: int = 0) -> list[Event]:
    """Events of ``sid`` every 10 s from ``T0``, the ``start``-th point first."""
    return [Event("metric", sid, {"host": "a"}, T0 + 10.0 * (start + t), {"user": float(v)})
            for t, v in enumerate(values)]


def two_spikes() -> np.ndarray:
    """400 quiet points with a one-point spike at 300 and a five-point one at 350."""
    values = 50.0 + np.random.default_rng(2).normal(size=400)
    values[300] += 40.0
    values[350:355] += 40.0
    return values
