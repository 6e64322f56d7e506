"""PyODBank: outliers, fits off the calling thread, state round trip, bad input."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

import aiops.detectors.pyod_window as pyod_window
from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.pyod_window import PyODBank

FEATURES = ["latency", "errors"]


def normal_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal([100.0, 2.0], [5.0, 0.5], size=(n, 2))


def feed(bank: PyODBank, series: list[str], rows: np.ndarray, start: int = 0) -> None:
    """Learn one row per series per step (rows is (steps, series, features))."""
    for t, X in enumerate(rows, start):
        bank.learn(series, X, FEATURES, np.full(len(series), float(t)), np.ones(len(series), dtype=bool))


class TestDetection:
    @pytest.mark.parametrize("model", ["ecod", "copod", "iforest"])
    def test_flags_an_outlier(self, model):
        """An outlier outscores every one of 50 fresh normal points, with each selectable model."""
        rng = np.random.default_rng(1)
        bank = PyODBank(model=model, window_size=128, min_points=64, refit_every=32, background=False,
                        n_estimators=25)
        feed(bank, ["svc"], normal_rows(rng, 128)[:, None, :])
        normal = [bank.score(["svc"], row[None], FEATURES, np.zeros(1)).raw[0] for row in normal_rows(rng, 50)]
        outlier = bank.score(["svc"], np.array([[160.0, 9.0]]), FEATURES, np.zeros(1))
        assert outlier.raw[0] > max(normal)
        assert (outlier.per_feature[0] > 3).all()
        assert (outlier.expected_high[0] < [160.0, 9.0]).all()

    @pytest.mark.parametrize("model", ["ecod", "copod"])
    def test_fast_ecdf_scores_equal_pyod_decision_function(self, model):
        """The sorted-column scoring gives PyOD's own numbers, ties and extremes included."""
        rng = np.random.default_rng(7)
        rows = np.round(normal_rows(rng, 96), 0)[:, None, :]
        fast = PyODBank(model=model, window_size=96, min_points=96, background=False)
        slow = PyODBank(model=model, window_size=96, min_points=96, background=False, fast_ecdf=False)
        feed(fast, ["svc"], rows)
        feed(slow, ["svc"], rows)
        probes = np.concatenate([np.round(normal_rows(rng, 20), 0), [[300.0, -5.0], [-300.0, 40.0]], rows[:3, 0]])
        for probe in probes:
            want = slow.score(["svc"], probe[None], FEATURES, np.zeros(1)).raw[0]
            got = fast.score(["svc"], probe[None], FEATURES, np.zeros(1)).raw[0]
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12)

    @pytest.mark.parametrize("model", ["ecod", "copod"])
    def test_far_outlier_reaches_the_default_threshold(self, model):
        """Alone in the ensemble at the default threshold, a 50-sd point is flagged: the window's ECDF by itself
        gives every point beyond its range one score, which calibrates below 0.99995 (beyond_window=False)."""
        from aiops.detectors.config import DetectionConfig
        from aiops.detectors.engine import build_engine

        rng = np.random.default_rng(3)
        X = normal_rows(rng, 1500)
        X[-1] = [350.0, 27.0]
        flagged = {}
        for beyond in (True, False):
            params = {"model": model, "background": False, "beyond_window": beyond}
            engine = build_engine(DetectionConfig.model_validate({"detectors": [{"type": "pyod", "params": params}]}))
            _, res = engine.score_series("svc", np.arange(1500.0), X, FEATURES)
            flagged[beyond] = np.flatnonzero(res.hot).tolist()  # the detector's own verdict, not the episode
        assert flagged == {True: [1499], False: []}

    def test_each_series_is_judged_against_its_own_window(self):
        """A value normal for one series is an outlier for another."""
        rng = np.random.default_rng(2)
        bank = PyODBank(window_size=64, min_points=32, background=False)
        rows = np.stack([normal_rows(rng, 64), normal_rows(rng, 64) + [400.0, 0.0]], axis=1)
        feed(bank, ["low", "high"], rows)
        s = bank.score(["low", "high"], np.array([[500.0, 2.0], [500.0, 2.0]]), FEATURES, np.zeros(2))
        assert s.raw[0] > s.raw[1]

    def test_cold_until_min_points_and_unlearned_rows_are_ignored(self):
        """Masked-out rows do not count; before min_points the bank is cold and scores 0."""
        rng = np.random.default_rng(3)
        bank = PyODBank(window_size=64, min_points=32, background=False)
        X = normal_rows(rng, 40)
        for t in range(40):
            bank.learn(["svc"], X[t : t + 1], FEATURES, np.zeros(1), np.array([t % 2 == 0]))
        assert bank.warm(["svc"]).tolist() == [False]
        assert bank.score(["svc"], X[:1], FEATURES, np.zeros(1)).raw.tolist() == [0.0]
        assert len(bank.export_state("svc")["points"]) == 20


class TestBackgroundFits:
    def test_refit_runs_off_the_calling_thread_and_the_old_fit_keeps_scoring(self, monkeypatch):
        """While a refit is held up, learn returns, the previous fit scores; then the refit lands."""
        gate = threading.Event()
        real_fit = pyod_window.fit_window
        fits: list[str] = []

        def gated_fit(config, points):
            fits.append(threading.current_thread().name)
            if len(fits) > 1:
                assert gate.wait(timeout=30)
            return real_fit(config, points)

        monkeypatch.setattr(pyod_window, "fit_window", gated_fit)
        rng = np.random.default_rng(4)
        bank = PyODBank(window_size=64, min_points=32, refit_every=16, background=True)
        try:
            feed(bank, ["svc"], normal_rows(rng, 32)[:, None, :])
            assert bank.wait_idle(timeout=30)
            first = bank.fit_info("svc")
            assert first["thread"].startswith("pyod-fit") and first["thread"] != threading.current_thread().name
            probe = np.array([[130.0, 4.0]])
            before = bank.score(["svc"], probe, FEATURES, np.zeros(1)).raw[0]
            feed(bank, ["svc"], normal_rows(rng, 16)[:, None, :] + [50.0, 0.0], start=32)  # triggers a held refit
            for _ in range(300):  # the refit starts on the worker thread, not in learn()
                if len(fits) == 2:
                    break
                gate.wait(0.01)
            assert len(fits) == 2 and not bank.wait_idle(timeout=0.05)
            assert bank.fit_info("svc")["n_points"] == 32
            assert bank.score(["svc"], probe, FEATURES, np.zeros(1)).raw[0] == before
            gate.set()
            assert bank.wait_idle(timeout=30)
            assert bank.fit_info("svc")["n_points"] == 48
            assert bank.score(["svc"], probe, FEATURES, np.zeros(1)).raw[0] != before
        finally:
            gate.set()
            bank.close()

    def test_a_fit_landing_after_forget_is_dropped(self, monkeypatch):
        """Forgetting a series while its fit runs leaves it forgotten."""
        gate = threading.Event()
        real_fit = pyod_window.fit_window
        monkeypatch.setattr(pyod_window, "fit_window", lambda c, p: (gate.wait(30), real_fit(c, p))[1])
        bank = PyODBank(window_size=64, min_points=32, background=True)
        try:
            feed(bank, ["svc"], normal_rows(np.random.default_rng(5), 32)[:, None, :])
            bank.forget("svc")
            gate.set()
            assert bank.wait_idle(timeout=30)
            assert bank.warm(["svc"]).tolist() == [False] and bank.export_state("svc") is None
        finally:
            gate.set()
            bank.close()


class TestState:
    def test_export_import_round_trip_gives_identical_scores(self):
        """A bank rebuilt from exported windows refits and scores exactly like the original."""
        rng = np.random.default_rng(6)
        bank = PyODBank(window_size=48, min_points=32, refit_every=40, background=False)
        feed(bank, ["a", "b"], np.stack([normal_rows(rng, 100), normal_rows(rng, 100)], axis=1))
        assert bank.fit_info("a")["n_points"] == 48  # fitted at point 72 on points 24..71; 28 learned since
        assert len(bank.export_state("a")["points"]) == 48 and len(bank.export_state("a")["fit_points"]) == 48
        restored = PyODBank(window_size=48, min_points=32, refit_every=40, background=False)
        for s in "ab":
            restored.import_state(s, pickle.loads(pickle.dumps(bank.export_state(s))))
        X = np.array([[120.0, 2.0], [99.0, 7.0]])
        want, got = bank.score(["a", "b"], X, FEATURES, np.zeros(2)), restored.score(["a", "b"], X, FEATURES, np.zeros(2))
        assert np.array_equal(want.raw, got.raw) and np.array_equal(want.expected_low, got.expected_low)
        assert restored.warm(["a", "b"]).all()

    def test_bad_input_and_settings(self):
        """Shape mismatches, NaNs, bad states and bad settings are clear errors."""
        bank = PyODBank(background=False)
        with pytest.raises(InputError, match="1 rows of 2 features"):
            bank.score(["a"], np.zeros((1, 3)), FEATURES, np.zeros(1))
        with pytest.raises(InputError, match="non-finite"):
            bank.learn(["a"], np.array([[np.inf, 0.0]]), FEATURES, np.zeros(1), np.ones(1, dtype=bool))
        with pytest.raises(InputError):
            bank.import_state("a", {"features": ["x"], "points": np.zeros((4, 2))})
        with pytest.raises(ConfigError, match="model"):
            PyODBank(model="lof")
        with pytest.raises(ConfigError, match="min_points"):
            PyODBank(window_size=16, min_points=32)
