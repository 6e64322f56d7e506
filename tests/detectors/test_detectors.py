"""Each built-in detector ranks what it is built for above normal points."""

from __future__ import annotations

import numpy as np

from aiops.detectors.cusum import CusumBank
from aiops.detectors.ewma import EwmaBank
from aiops.detectors.hst import HalfSpaceTreesBank
from aiops.detectors.mahalanobis import MahalanobisBank
from aiops.detectors.zscore import ZScoreBank


def run(bank, X: np.ndarray, features: list[str], times: np.ndarray | None = None) -> np.ndarray:
    times = np.arange(len(X), dtype=float) if times is None else times
    out = []
    for i, row in enumerate(X):
        t = times[i:i + 1]
        out.append(bank.score(["s"], row[None, :], features, t).raw[0])
        bank.learn(["s"], row[None, :], features, t, np.array([True]))
    return np.array(out)


class TestZScore:
    def test_spike_scores_above_normal(self, noise):
        """A 10-sigma spike scores far above every normal point after warm-up."""
        X = noise(400)
        X[300] = 10.0
        raw = run(ZScoreBank(), X, ["v"])
        assert raw[300] > 2 * raw[50:300].max()

    def test_seasonal_baseline(self):
        """With a season, a value usual overall but wrong for its phase stands out; without, it does not."""
        period = 100.0
        t = np.arange(3001, dtype=float)
        rng = np.random.default_rng(0)
        X = (np.where((t % period) < 50, 0.0, 10.0) + 0.3 * rng.normal(size=t.size))[:, None]
        X[3000] = 10.0  # phase 0 expects about 0
        plain = run(ZScoreBank(), X, ["v"], t)
        seasonal = run(ZScoreBank(period_s=period, buckets=10), X, ["v"], t)
        assert plain[3000] < 1.5
        assert seasonal[3000] > 10.0
        assert seasonal[3000] > 3 * seasonal[2000:3000].max()

    def test_vectorised_equals_separate(self, noise):
        """Two series in one step score exactly as each alone."""
        A, B = noise(50, seed=1), noise(50, seed=2) * 3 + 7
        together, alone_a, alone_b = ZScoreBank(), ZScoreBank(), ZScoreBank()
        for i in range(50):
            t = np.array([float(i), float(i)])
            both = together.score(["a", "b"], np.vstack([A[i], B[i]]), ["v"], t).raw
            together.learn(["a", "b"], np.vstack([A[i], B[i]]), ["v"], t, np.array([True, True]))
            ra = alone_a.score(["a"], A[i:i + 1], ["v"], t[:1]).raw
            alone_a.learn(["a"], A[i:i + 1], ["v"], t[:1], np.array([True]))
            rb = alone_b.score(["b"], B[i:i + 1], ["v"], t[:1]).raw
            alone_b.learn(["b"], B[i:i + 1], ["v"], t[:1], np.array([True]))
            assert both.tolist() == [ra[0], rb[0]]


class TestCusum:
    def test_small_shift_builds_up(self, noise):
        """A 1-sigma level shift, invisible point by point, accumulates above anything seen before."""
        X = noise(600)
        X[400:] += 1.0
        raw = run(CusumBank(reset=1e9), X, ["v"])
        assert raw[400:460].max() > 2 * raw[100:400].max()
        assert run(ZScoreBank(), X, ["v"])[400:440].max() < 5.0

    def test_resets_after_alarm(self, noise):
        """Once the sum passes the reset level while learning, it restarts from zero."""
        X = noise(300)
        X[200:] += 3.0
        bank = CusumBank(reset=5.0)
        run(bank, X, ["v"])
        assert bank.store.arrays["pos"][0, 0] < 5.0


class TestEwma:
    def test_wandering_sensor_needs_a_larger_excursion(self, noise):
        """The same sustained 1.5-sd shift scores lower on a sensor that wanders (AR(1)) than on plain noise,
        since each chart is scaled by its own swing on normal data."""
        rng = np.random.default_rng(1)
        wander = np.zeros((900, 1))
        for t in range(1, 900):
            wander[t] = 0.95 * wander[t - 1] + np.sqrt(1 - 0.95 ** 2) * rng.normal()
        steady = noise(900)
        for X in (wander, steady):
            X[800:] += 1.5
        shifted_wander = run(EwmaBank(), wander, ["v"])
        shifted_steady = run(EwmaBank(), steady, ["v"])
        assert shifted_steady[800:840].max() > 1.5 * shifted_steady[300:800].max()
        assert shifted_wander[800:840].max() < 0.6 * shifted_steady[800:840].max()

    def test_lone_spike_does_not_echo(self, noise):
        """A lone spike (the point detectors' case) leaves the despiked chart as it was; without despiking it
        holds the chart up for the points after it."""
        X = noise(500)
        X[400] += 15.0
        despiked, plain = run(EwmaBank(), X, ["v"]), run(EwmaBank(despike=False), X, ["v"])
        normal = despiked[200:400].max()
        assert despiked[400:410].max() < 1.5 * normal
        assert plain[401:405].min() > 2 * normal

    def test_steadier_than_noise_is_read_as_noise(self):
        """A periodic sensor whose chart barely moves is scaled as if it were noise (rms_floor 1): a small
        wobble does not score as a large excursion."""
        X = np.array([[10.0 + (t % 5) * 0.1] for t in range(400)])
        X[350:] += 0.02
        floored, raw = run(EwmaBank(), X, ["v"]), run(EwmaBank(rms_floor=0.0), X, ["v"])
        assert floored[350:].max() < 0.5 * raw[350:].max()


class TestMahalanobis:
    def test_broken_correlation(self, noise):
        """Breaking the relation between two sensors scores far above normal, though each value is usual."""
        base = noise(400)
        X = np.hstack([base, base + 0.1 * noise(400, seed=5)])
        X[350] = [1.5, -1.5]
        raw = run(MahalanobisBank(), X, ["p", "q"])
        assert raw[350] > 2 * raw[100:350].max()
        assert run(ZScoreBank(), X, ["p", "q"])[350] < 3.5

    def test_contributions_point_at_the_feature(self, noise):
        """The shifted sensor carries the largest per-feature share."""
        X = noise(300, f=3)
        bank = MahalanobisBank()
        run(bank, X, list("abc"))
        probe = np.array([[0.0, 0.0, 6.0]])
        share = bank.score(["s"], probe, list("abc"), np.zeros(1)).per_feature[0]
        assert share.argmax() == 2


class TestHalfSpaceTrees:
    def test_far_point_scores_higher(self, noise):
        """A point far outside the reference cloud scores above the cloud's points."""
        X = noise(400, f=2) * 0.1
        X[350] = [5.0, -5.0]
        raw = run(HalfSpaceTreesBank(window_size=100), X, ["a", "b"])
        assert raw[350] > np.percentile(raw[200:350], 99)

    def test_distance_beyond_the_seen_range_counts(self, noise):
        """The trees clip points to the range seen, so 5 and 50 spans out score alike; the beyond-range term
        ranks them (and lifts them past the cap of 1 an alert threshold cannot be reached under)."""
        X = noise(300, f=2)
        scored = {}
        for beyond in (True, False):
            bank = HalfSpaceTreesBank(window_size=100, beyond_range=beyond)
            run(bank, X, ["a", "b"])
            probes = np.array([[20.0, 0.0], [200.0, 0.0]])
            scored[beyond] = bank.score(["s", "s"], probes, ["a", "b"], np.zeros(2)).raw
        assert scored[False][0] == scored[False][1] <= 1.0
        assert 1.0 < scored[True][0] < scored[True][1]

    def test_not_warm_before_first_window(self, noise):
        """Until its first reference window is full the bank says it is not warm and scores 0."""
        bank = HalfSpaceTreesBank(window_size=50)
        raw = run(bank, noise(49, f=2), ["a", "b"])
        assert not bank.warm(["s"])[0] and (raw == 0).all()
