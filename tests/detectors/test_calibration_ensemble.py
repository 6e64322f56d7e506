"""Calibration of raw scores and the ensemble's combination methods."""

from __future__ import annotations

import numpy as np
import pytest

from aiops.detectors.calibration import calibrate, remember
from aiops.detectors.ensemble import combine


def calibrated_stream(raw: np.ndarray, window: int = 256) -> np.ndarray:
    ring, seen = np.zeros((1, window), dtype=np.float32), np.zeros(1, dtype=np.int64)
    out = []
    for value in raw:
        out.append(calibrate(ring, seen, np.array([value]), min_history=20)[0])
        remember(ring, seen, np.array([value]))
    return np.array(out)


class TestCalibration:
    def test_uniform_on_stationary_noise(self):
        """On stationary noise calibrated values spread evenly over (0, 1)."""
        p = calibrated_stream(np.abs(np.random.default_rng(0).normal(size=5000)))[500:]
        counts, _ = np.histogram(p, bins=10, range=(0, 1))
        assert counts.min() > 0.07 * p.size and counts.max() < 0.13 * p.size

    def test_never_exactly_one(self):
        """Even absurd raw scores stay below 1.0 and keep their order."""
        ring, seen = np.zeros((1, 256), dtype=np.float32), np.zeros(1, dtype=np.int64)
        for v in np.random.default_rng(1).normal(size=300):
            remember(ring, seen, np.array([v]))
        raw = np.array([5.0, 50.0, 5e3, 5e8, 1e300])
        p = calibrate(np.repeat(ring, 5, 0), np.repeat(seen, 5), raw, min_history=20)
        assert (p < 1.0).all() and (np.diff(p) > 0).all()

    def test_monotone(self):
        """A larger raw score never gets a smaller calibrated value."""
        ring, seen = np.zeros((1, 64), dtype=np.float32), np.zeros(1, dtype=np.int64)
        for v in np.random.default_rng(2).exponential(size=100):
            remember(ring, seen, np.array([v]))
        raw = np.linspace(-1, 20, 500)
        p = calibrate(np.repeat(ring, 500, 0), np.repeat(seen, 500), raw, min_history=20)
        assert (np.diff(p) >= 0).all()

    def test_no_opinion_without_history(self):
        """Below min_history the calibrated value is 0.5."""
        ring, seen = np.zeros((1, 64), dtype=np.float32), np.zeros(1, dtype=np.int64)
        remember(ring, seen, np.array([1.0]))
        assert calibrate(ring, seen, np.array([100.0]), min_history=20)[0] == 0.5


class TestEnsemble:
    P = np.array([[0.1, 0.999, 0.4], [0.99, 0.995, 0.2], [0.5, 0.5, 0.5]])
    W = np.array([1.0, 1.0, 2.0])

    def test_max(self):
        """max follows the most alarmed detector."""
        assert combine(self.P, self.W, "max").tolist() == [0.999, 0.995, 0.5]

    def test_means(self):
        """mean ignores weights; weighted_mean uses them."""
        assert combine(self.P, self.W, "mean") == pytest.approx([1.499 / 3, 2.185 / 3, 0.5])
        assert combine(self.P, self.W, "weighted_mean") == pytest.approx([1.899 / 4, 2.385 / 4, 0.5])

    def test_vote(self):
        """vote: the level reached by detectors holding the quorum of weight."""
        assert combine(self.P, self.W, "vote", quorum=0.5).tolist() == [0.4, 0.99, 0.5]
        assert combine(self.P, np.ones(3), "vote", quorum=0.9).tolist() == [0.1, 0.2, 0.5]
        assert combine(self.P, np.ones(3), "vote", quorum=0.3).tolist() == [0.999, 0.995, 0.5]

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="unknown ensemble method"):
            combine(self.P, self.W, "median")
