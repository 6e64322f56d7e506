"""One check suite run over every registered detector bank: a new bank gets these tests for free."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from aiops.detectors.base import BankScores
from aiops.detectors.core.errors import InputError
from aiops.detectors.registry import BANKS

# Small, deterministic settings for banks whose defaults train in the background or need many points.
FAST_PARAMS = {
    "pyod": {"window_size": 32, "min_points": 16, "refit_every": 8, "background": False},
    "lstm_ae": {"window": 4, "hidden": 4, "latent": 2, "epochs": 1, "min_train_windows": 16, "refresh_every": 0,
                "background": False, "device": "cpu"},
}
FEATURES = ["a", "b", "c"]

# Documented design differences of some banks: these checks are expected to fail for them (strictly).
KNOWN_DIFFERENCES = {
    ("lstm_ae", "test_state_round_trip"): "the model is shared per feature signature and lives in the checkpoint "
                                          "registry, not in a series' exported state",
    ("lstm_ae", "test_mask_blocks_learning"): "windows keep flagged points as context; only training skips them",
}


@pytest.fixture(autouse=True)
def _known_differences(request):
    name = request.node.callspec.params.get("name") if hasattr(request.node, "callspec") else None
    reason = KNOWN_DIFFERENCES.get((name, request.node.originalname))
    if reason:
        request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))


# River's other models run the same checks, as "river:<model>" (the plain "river" is its default model).
RIVER_MODELS = {
    "river:GaussianScorer": {"model": "GaussianScorer", "options": {"grace_period": 10}},
    "river:PredictiveAnomalyDetection": {"model": "PredictiveAnomalyDetection"},
    "river:PredictiveAnomalyDetection+SNARIMAX": {"model": "PredictiveAnomalyDetection", "forecaster": "SNARIMAX"},
    "river:PageHinkley": {"model": "PageHinkley", "options": {"min_instances": 10}},
    "river:HalfSpaceTrees-small": {"model": "HalfSpaceTrees", "options": {"window_size": 20, "n_trees": 3}},
}
FAST_PARAMS.update(RIVER_MODELS)


def make_bank(name: str):
    if name in RIVER_MODELS:
        return BANKS.load("river")(**FAST_PARAMS[name])
    if name == "lstm_ae":
        import torch

        torch.set_num_threads(1)
    return BANKS.load(name)(**FAST_PARAMS.get(name, {}))


def series_data(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 1))
    return np.hstack([base, base + 0.3 * rng.normal(size=(n, 1)), 5.0 + rng.normal(size=(n, 1))])


def feed(bank, sid: str, X: np.ndarray, start: int = 0) -> list[float]:
    """Score then learn each row in turn; the raw scores."""
    out = []
    for i, row in enumerate(X):
        t = np.array([float(start + i)])
        out.append(float(bank.score([sid], row[None, :], FEATURES, t).raw[0]))
        bank.learn([sid], row[None, :], FEATURES, t, np.array([True]))
    return out


NAMES = BANKS.names() + list(RIVER_MODELS)
# banks whose state moves with every point (a forecaster's position, the LSTM's context window): no learn_late,
# the engine learns them at once whatever its learn_delay
LEARN_AT_ONCE = {"river", "lstm_ae", *RIVER_MODELS}


@pytest.mark.parametrize("name", NAMES)
class TestEveryBank:
    def test_score_shapes(self, name):
        """score returns one finite raw score per row, and per-feature arrays of (rows, features) when given."""
        bank = make_bank(name)
        X = series_data(60)
        feed(bank, "s", X)
        scored = bank.score(["s", "new"], X[:2], FEATURES, np.array([60.0, 60.0]))
        assert isinstance(scored, BankScores)
        assert scored.raw.shape == (2,) and np.isfinite(scored.raw).all()
        for extra in (scored.per_feature, scored.expected_low, scored.expected_high):
            assert extra is None or extra.shape == (2, 3)
        assert bank.warm(["s", "never-seen"]).dtype == bool

    def test_score_does_not_change_state(self, name):
        """Scoring the same rows twice gives the same numbers."""
        bank = make_bank(name)
        feed(bank, "s", series_data(60))
        probe = series_data(3, seed=9)
        first = bank.score(["s"] * 1, probe[:1], FEATURES, np.array([60.0])).raw
        bank.score(["s"], probe[1:2] * 50, FEATURES, np.array([60.0]))
        again = bank.score(["s"], probe[:1], FEATURES, np.array([60.0])).raw
        np.testing.assert_array_equal(first, again)

    def test_causal(self, name):
        """The score of a row never depends on later rows."""
        X = series_data(80)
        first = feed(make_bank(name), "s", X[:50])
        whole = feed(make_bank(name), "s", X)
        assert first == whole[:50]

    def test_state_round_trip(self, name):
        """Exported state pickles, and a fresh bank importing it scores the next rows identically."""
        X = series_data(90)
        bank = make_bank(name)
        feed(bank, "s", X[:60])
        state = pickle.loads(pickle.dumps(bank.export_state("s")))
        other = make_bank(name)
        other.import_state("s", state)
        assert feed(other, "s", X[60:], 60) == feed(bank, "s", X[60:], 60)

    def test_forget(self, name):
        """A forgotten series exports nothing and is not warm."""
        bank = make_bank(name)
        feed(bank, "s", series_data(60))
        bank.forget("s")
        assert bank.export_state("s") is None
        assert not bank.warm(["s"])[0]

    def test_missing_feature(self, name):
        """A NaN (missing) feature gives a finite score and does not poison the series, or a clear InputError
        from banks that declare they need complete rows (the engine then fills gaps for them)."""
        bank = make_bank(name)
        X = series_data(70)
        feed(bank, "s", X[:60])
        row = X[60:61].copy()
        row[0, 1] = np.nan
        if not getattr(bank, "accepts_missing", False):
            with pytest.raises(InputError):
                bank.score(["s"], row, FEATURES, np.array([60.0]))
            return
        assert np.isfinite(bank.score(["s"], row, FEATURES, np.array([60.0])).raw).all()
        bank.learn(["s"], row, FEATURES, np.array([60.0]), np.array([True]))
        assert np.isfinite(feed(bank, "s", X[61:], 61)).all()

    def test_learn_late_is_learning_split_in_two(self, name):
        """A bank that can learn late: ``learn(mask)`` equals ``learn(nothing)`` now plus ``learn_late`` of the masked rows.

        That is what the engine's ``learn_delay`` relies on: charts advance with the row, baselines move later.
        Banks without ``learn_late`` are learned at once by the engine, whatever the delay.
        """
        bank, twin = make_bank(name), make_bank(name)
        if not hasattr(bank, "learn_late"):
            assert name in LEARN_AT_ONCE, f"{name} has no learn_late and is not declared to learn at once"
            return
        X = series_data(90)
        feed(bank, "s", X[:60])
        feed(twin, "s", X[:60])
        for i in range(60, 90):
            row, t = X[i:i + 1], np.array([float(i)])
            keep = np.array([i % 3 != 0])
            assert bank.score(["s"], row, FEATURES, t).raw[0] == twin.score(["s"], row, FEATURES, t).raw[0]
            bank.learn(["s"], row, FEATURES, t, keep)
            twin.learn(["s"], row, FEATURES, t, np.array([False]))
            if keep[0]:
                twin.learn_late(["s"], row, FEATURES, t)
        assert pickle.dumps(bank.export_state("s")) == pickle.dumps(twin.export_state("s"))

    def test_learn_late_leaves_charts_alone(self, name):
        """``learn_late`` learns (the state moves) but never moves a chart (``chart_fields``)."""
        bank = make_bank(name)
        if not hasattr(bank, "learn_late"):
            assert name in LEARN_AT_ONCE, f"{name} has no learn_late and is not declared to learn at once"
            return
        charts = getattr(bank, "chart_fields", ())
        X = series_data(70)
        feed(bank, "s", X[:60])
        state = pickle.dumps(bank.export_state("s"))
        before = {k: bank.store.arrays[k].copy() for k in charts}
        for i in range(60, 70):
            bank.learn_late(["s"], X[i:i + 1] * 5, FEATURES, np.array([float(i)]))
        assert pickle.dumps(bank.export_state("s")) != state
        assert all(np.array_equal(before[k], bank.store.arrays[k]) for k in charts)

    def test_partial_rows_leave_missing_features_alone(self, name):
        """A bank that ``learns_partial``: late rows with a NaN feature move the other features only.

        Every per-feature array keeps its entries of the missing feature (for a covariance: its row and
        column), while the state still moves; arrays derived from the others (``derived_fields``: an inverse
        covariance) are exempt. That is what lets the engine teach a flagged row's bystanders.
        """
        bank = make_bank(name)
        if not getattr(bank, "learns_partial", False):
            return
        assert hasattr(bank, "learn_late"), "partial rows are learned through learn_late"
        X = series_data(90)
        feed(bank, "s", X[:60])
        before = {k: v.copy() for k, v in bank.store.arrays.items() if k not in bank.derived_fields}
        f, missing = len(FEATURES), 1
        for i in range(60, 90):
            row = X[i:i + 1] * 3.0
            row[0, missing] = np.nan
            bank.learn_late(["s"], row, FEATURES, np.array([float(i)]))
        slot = bank.store.rows(["s"])[0]
        moved = False
        for k, old in before.items():
            new = bank.store.arrays[k][slot]
            moved |= not np.array_equal(old[slot], new)
            if new.ndim and new.shape[-1] == f:
                np.testing.assert_array_equal(old[slot][..., missing], new[..., missing], err_msg=k)
            if new.ndim >= 2 and new.shape[-2] == f:
                np.testing.assert_array_equal(old[slot][..., missing, :], new[..., missing, :], err_msg=k)
        assert moved

    def test_mask_blocks_learning(self, name):
        """Rows masked out of learn leave the series' baseline as if they were never seen.

        A sequential test's own statistic (the bank's ``chart_fields``: CUSUM sums, a smoothed residual) is
        not learned but computed: it advances on every row, masked or not.
        """
        X = series_data(80)
        bank, twin = make_bank(name), make_bank(name)
        feed(bank, "s", X[:60])
        feed(twin, "s", X[:60])
        spike = X[60:61] * 40
        bank.learn(["s"], spike, FEATURES, np.array([60.0]), np.array([False]))
        charts = getattr(bank, "chart_fields", ())
        if charts:
            mine, theirs = bank.store.arrays, twin.store.arrays
            assert all(np.array_equal(mine[k], theirs[k]) for k in mine if k not in charts)
            assert any(not np.array_equal(mine[k], theirs[k]) for k in charts)
            return
        assert feed(bank, "s", X[61:], 61) == feed(twin, "s", X[61:], 61)
