"""Per-detector tallies of what the engine scored: points flagged, episodes opened, a drifting mean score.

Kept from the step's arrays (a few reductions per scored batch, no object
per point), read by the worker's /metrics at scrape time.

>>> import numpy as np
>>> t = DetectorTally()
>>> P = np.array([[0.99, 0.2], [0.5, 0.3], [0.999, 0.98]])      # two detectors over three points
>>> t.add(["zscore", "hst"], P, threshold=np.array([0.95, 0.95, 0.95]), alert=np.array([True, False, False]))
>>> t.flagged, t.opened
({'zscore': 2, 'hst': 1}, {'zscore': 1, 'hst': 0})
>>> round(t.mean["zscore"], 3), round(t.mean["hst"], 3)        # the first batch's means
(0.83, 0.493)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class DetectorTally:
    """Counts per detector name since start-up; ``mean`` moves by each batch's weight over ``memory`` points."""

    def __init__(self, memory: int = 10_000) -> None:
        self.memory = memory
        self.flagged: dict[str, int] = {}
        self.opened: dict[str, int] = {}
        self.mean: dict[str, float] = {}

    def add(self, names: Sequence[str], calibrated: np.ndarray, *, threshold: np.ndarray, alert: np.ndarray) -> None:
        """One scored batch: ``calibrated`` (points x detectors), each point's ``threshold`` and whether it opened
        an episode."""
        n = len(calibrated)
        if not n:
            return
        hot = calibrated >= threshold[:, None]
        flagged = hot.sum(axis=0).tolist()
        opened = (hot & alert[:, None]).sum(axis=0).tolist()
        means = calibrated.mean(axis=0).tolist()
        weight = min(1.0, n / self.memory)
        for name, f, o, m in zip(names, flagged, opened, means):
            self.flagged[name] = self.flagged.get(name, 0) + f
            self.opened[name] = self.opened.get(name, 0) + o
            before = self.mean.get(name)
            self.mean[name] = m if before is None else before + weight * (m - before)
