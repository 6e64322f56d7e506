"""LSTMAEBank: warm-up and training, scoring, hot swap, checkpoints, state, causality."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.models.config import SaveRef
from aiops.models.detector import LSTMAEBank, saved_name
from aiops.models.registry import CheckpointRegistry
from aiops.models.train_worker import acquire_shared_worker, release_shared_worker

FEATURES = ["user", "system"]
TINY = dict(window=12, hidden=12, latent=3, epochs=4, batch_size=32, lr=1e-2, min_train_windows=60,
            refresh_every=0, device="cpu", background=False)


def point(t: int, phase: float = 0.0) -> np.ndarray:
    return np.array([np.sin(t / 3 + phase), 0.5 * np.cos(t / 3 + phase)])


def feed(bank: LSTMAEBank, series: list[str], start: int, stop: int, spike_at: dict[str, int] | None = None) -> list[np.ndarray]:
    """Score then learn each step (as the engine does); returns the raw scores per step."""
    out = []
    for t in range(start, stop):
        X = np.stack([point(t, phase=i * 0.7) for i in range(len(series))])
        for s, at in (spike_at or {}).items():
            if at == t:
                X[series.index(s)] += [6.0, -4.0]
        times = np.full(len(series), float(t))
        out.append(bank.score(series, X, FEATURES, times).raw)
        bank.learn(series, X, FEATURES, times, np.ones(len(series), dtype=bool))
    return out


@pytest.fixture(scope="module")
def trained() -> LSTMAEBank:
    bank = LSTMAEBank(**TINY)
    with capture_logs():
        feed(bank, ["a", "b", "c"], 0, 40)
    return bank


class TestWarmUp:
    def test_untrained_bank_is_cold_and_scores_zero_until_it_trains(self):
        """No model: warm False and raw 0; after min_train_windows the inline training makes it warm."""
        bank = LSTMAEBank(**TINY)
        with capture_logs() as logs:
            scores = feed(bank, ["a", "b", "c"], 0, 28)  # 17 windows each: 51 < 60
            assert not bank.warm(["a", "b", "c"]).any()
            assert all((s == 0).all() for s in scores)
            assert bank.model_version(FEATURES) == 0
            feed(bank, ["a", "b", "c"], 28, 40)
        assert bank.warm(["a", "b", "c"]).all()
        assert bank.model_version(FEATURES) == 1
        assert any(e["event"] == "lstm_ae.model_swapped" for e in logs)
        after = bank.score(["a"], point(40)[None], FEATURES, np.array([40.0]))
        assert after.raw[0] > 0 and np.isfinite(after.expected_low).all()

    def test_other_feature_signatures_get_their_own_model(self, trained):
        """A series with different features is not scored by the (user, system) model."""
        assert trained.model(["rx", "tx"]) is None
        scores = trained.score(["net"], np.array([[1.0, 2.0]]), ["rx", "tx"], np.array([0.0]))
        assert scores.raw.tolist() == [0.0]
        assert trained.warm(["net"]).tolist() == [False]


class TestScoring:
    def test_a_spike_scores_higher_than_normal_points(self, trained):
        """Every normal point of a series scores below the spike, and the spiked feature dominates."""
        series = ["a", "b", "c"]
        X = np.stack([point(40, phase=i * 0.7) for i in range(3)])
        X[1] += [6.0, 0.0]
        s = trained.score(series, X, FEATURES, np.full(3, 40.0))
        assert s.raw[1] > 5 * max(s.raw[0], s.raw[2])
        assert s.per_feature[1, 0] > s.per_feature[1, 1]
        assert not (s.expected_low[1, 0] <= X[1, 0] <= s.expected_high[1, 0])
        assert (s.expected_low[0] <= X[0]).all() and (X[0] <= s.expected_high[0]).all()

    def test_score_does_not_change_state(self, trained):
        """Scoring twice gives the same numbers and leaves the exported state equal."""
        X = np.stack([point(40), point(40, 0.7)])
        before = pickle.dumps(trained.export_state("a"))
        first = trained.score(["a", "b"], X, FEATURES, np.zeros(2)).raw
        second = trained.score(["a", "b"], X, FEATURES, np.zeros(2)).raw
        assert np.array_equal(first, second)
        assert pickle.dumps(trained.export_state("a")) == before

    def test_rows_are_scored_together_as_they_would_be_alone(self, trained):
        """Batching across series does not mix them."""
        X = np.stack([point(40), point(40, 0.7), point(40, 1.4)])
        together = trained.score(["a", "b", "c"], X, FEATURES, np.zeros(3)).raw
        alone = [trained.score([s], X[i : i + 1], FEATURES, np.zeros(1)).raw[0] for i, s in enumerate("abc")]
        assert np.allclose(together, alone, rtol=1e-5, atol=1e-9)

    def test_causality_scores_do_not_change_when_later_points_are_appended(self):
        """The score of each point is the same whether or not the stream goes on after it."""
        short, long = LSTMAEBank(**TINY), LSTMAEBank(**TINY)
        with capture_logs():
            a = feed(short, ["a", "b", "c"], 0, 45, spike_at={"b": 42})
            b = feed(long, ["a", "b", "c"], 0, 60, spike_at={"b": 42})
        assert all(np.array_equal(x, y) for x, y in zip(a, b[:45]))
        assert b[42][1] > b[42][0]

    def test_bad_rows_are_input_errors(self, trained):
        """Shape mismatches and NaNs raise InputError naming the problem."""
        with pytest.raises(InputError, match="2 rows of 2 features"):
            trained.score(["a", "b"], np.zeros((2, 3)), FEATURES, np.zeros(2))
        with pytest.raises(InputError, match="'b'"):
            trained.score(["a", "b"], np.array([[0.0, 0.0], [np.nan, 1.0]]), FEATURES, np.zeros(2))
        with pytest.raises(InputError, match="mask"):
            trained.learn(["a"], np.zeros((1, 2)), FEATURES, np.zeros(1), np.ones(2, dtype=bool))

    def test_bad_settings_are_config_errors(self):
        """Unknown or invalid settings name themselves."""
        with pytest.raises(ConfigError, match="windw"):
            LSTMAEBank(windw=3)
        with pytest.raises(ConfigError, match="window"):
            LSTMAEBank(window=1)


class TestStateAndCheckpoints:
    def test_state_round_trip_gives_identical_scores(self, trained, tmp_path):
        """A fresh bank started from the saved model and the imported states scores exactly the same."""
        with capture_logs():
            trained.save_checkpoint(str(tmp_path), "hosts", FEATURES)
            restored = LSTMAEBank(**{**TINY, "checkpoint": {"dir": str(tmp_path), "name": "hosts"}})
        for s in "abc":
            state = pickle.loads(pickle.dumps(trained.export_state(s)))
            restored.import_state(s, state)
        X = np.stack([point(40), point(40, 0.7) + [3.0, 0.0], point(40, 1.4)])
        want = trained.score(["a", "b", "c"], X, FEATURES, np.zeros(3))
        got = restored.score(["a", "b", "c"], X, FEATURES, np.zeros(3))
        assert np.array_equal(want.raw, got.raw)
        assert np.array_equal(want.expected_high, got.expected_high)
        assert restored.warm(["a", "b", "c"]).all()

    def test_state_is_small(self, trained):
        """A series' state is its window of points and its running statistics."""
        state = trained.export_state("a")
        assert state["points"].shape == (12, 2) and state["points"].dtype == np.float32
        assert len(pickle.dumps(state)) < 1500

    def test_checkpoint_bank_is_warm_without_training(self, trained, tmp_path):
        """Started from a checkpoint, a series is warm as soon as its window is full; the window is the checkpoint's."""
        with capture_logs():
            trained.save_checkpoint(str(tmp_path), "hosts", FEATURES)
            bank = LSTMAEBank(**{**TINY, "window": 32, "checkpoint": {"dir": str(tmp_path), "name": "hosts"}})
            assert bank.window == 12
            feed(bank, ["new"], 0, 10)
            assert bank.warm(["new"]).tolist() == [False]
            feed(bank, ["new"], 10, 12)
        assert bank.warm(["new"]).tolist() == [True]
        assert bank.model_version(FEATURES) == 1

    def test_forget_drops_a_series(self, trained):
        """A forgotten series has no state and is cold; others are untouched."""
        bank = LSTMAEBank(**TINY)
        with capture_logs():
            feed(bank, ["a", "b", "c"], 0, 40)
        bank.forget("b")
        assert bank.export_state("b") is None
        assert bank.warm(["a", "b"]).tolist() == [True, False]

    def test_stats_limit_freezes_the_series_baseline(self):
        """With stats_limit, a series' mean/std come from its first N learned points only; the window still moves."""
        bank = LSTMAEBank(**{**TINY, "stats_limit": 10})
        feed(bank, ["a"], 0, 10)
        frozen = bank.export_state("a")
        feed(bank, ["a"], 10, 30)
        later = bank.export_state("a")
        assert later["count"] == 10 and np.array_equal(later["mean"], frozen["mean"])
        assert np.allclose(later["points"][-1], point(29))

    def test_unreadable_state_is_an_input_error(self):
        """Garbage given as state is refused clearly."""
        bank = LSTMAEBank(**TINY)
        with pytest.raises(InputError):
            bank.import_state("a", {"features": ["x"], "points": np.zeros((3, 2))})
        with pytest.raises(InputError):
            bank.import_state("a", 42)


class TestBackgroundTraining:
    @pytest.mark.parametrize("train_in", ["process", "thread"])
    def test_hot_swap_while_scoring_in_another_thread(self, train_in):
        """Models retrain in the background and swap in while another thread scores: no error, no pause."""
        bank = LSTMAEBank(**{**TINY, "background": True, "refresh_every": 30, "epochs": 2, "train_in": train_in,
                             "max_reservoir": 150})
        errors: list[BaseException] = []
        versions_seen: set[int] = set()
        stop = threading.Event()

        def score_loop() -> None:
            X = np.stack([point(0), point(0, 0.7)])
            while not stop.is_set():
                try:
                    s = bank.score(["a", "b"], X, FEATURES, np.zeros(2))
                    assert np.isfinite(s.raw).all()
                    versions_seen.add(bank.model_version(FEATURES))
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    return

        scorer = threading.Thread(target=score_loop)
        with capture_logs():
            scorer.start()
            try:
                deadline = time.monotonic() + 30
                t = 0
                while bank.model_version(FEATURES) < 3 and time.monotonic() < deadline:
                    feed(bank, ["a", "b", "c"], t, t + 10)
                    t += 10
                    time.sleep(0.01)
                bank.wait_idle(timeout=20)
            finally:
                stop.set()
                scorer.join(timeout=10)
                bank.close()
        assert not errors, errors
        assert bank.model_version(FEATURES) >= 3
        assert len(versions_seen) >= 2
        assert bank.last_training(FEATURES).where == train_in

    def test_learning_does_not_wait_for_training(self):
        """While a model trains in the background, learn returns at once and the bank stays cold."""
        bank = LSTMAEBank(**{**TINY, "background": True, "epochs": 30, "patience": 30})
        with capture_logs():
            feed(bank, ["a", "b", "c"], 0, 32)
            feed(bank, ["a", "b", "c"], 32, 34)
            training_seen = bank.model_version(FEATURES) == 0
            assert bank.wait_idle(timeout=60)
            bank.close()
        assert training_seen
        assert bank.model_version(FEATURES) == 1


def feed_until(bank: LSTMAEBank, series: list[str], t: int, done, timeout: float = 60.0) -> tuple[int, list[bool]]:
    """Score-then-learn one step at a time until ``done()``; returns the next step and, per step, whether a
    training was running while it was scored (every score must be finite)."""
    deadline = time.monotonic() + timeout
    during: list[bool] = []
    while not done():
        assert time.monotonic() < deadline, "timed out"
        training = bank.training(FEATURES)
        scores = feed(bank, series, t, t + 1)[0]
        assert np.isfinite(scores).all()
        during.append(training and bank.model_version(FEATURES) > 0 and bool((scores > 0).all()))
        t += 1
        time.sleep(0.002)
    return t, during


@pytest.fixture(scope="module", autouse=True)
def training_process():
    """One training process serves every bank of this module, as it serves every bank of a worker."""
    acquire_shared_worker()
    yield
    release_shared_worker()


class TestTrainingProcess:
    def test_models_train_in_a_child_process_while_scoring_goes_on(self, tmp_path):
        """The first model and its refresh come from another pid, which saves them; steps scored by the old model
        meanwhile."""
        save_to = {"dir": str(tmp_path), "name": "hosts"}
        bank = LSTMAEBank(**{**TINY, "background": True, "train_in": "process", "refresh_every": 60,
                             "max_reservoir": 150, "save_to": save_to})
        series = ["a", "b", "c"]
        try:
            with capture_logs() as logs:
                t, _ = feed_until(bank, series, 0, lambda: bank.model_version(FEATURES) >= 1)
                first = bank.last_training(FEATURES)
                t, during = feed_until(bank, series, t, lambda: bank.model_version(FEATURES) >= 2)
                second = bank.last_training(FEATURES)
                child = bank.training_pid
        finally:
            bank.close()
        assert first.where == "process" and first.version == 1 and first.pid != os.getpid()
        assert second.version == 2 and second.pid == first.pid == child  # the child stays for the next training
        assert second.windows > first.windows >= 60
        assert any(during), "no step was scored by the old model while the new one trained"
        swaps = [e for e in logs if e["event"] == "lstm_ae.model_swapped"]
        assert [(e["version"], e["where"], e["pid"]) for e in swaps][:2] == [(1, "process", child),
                                                                             (2, "process", child)]
        saved = CheckpointRegistry(tmp_path).list(saved_name(SaveRef(**save_to), FEATURES))
        assert [m.n_windows for m in saved][:2] == [first.windows, second.windows]
        assert [m.val_error for m in saved][:2] == [first.val_error, second.val_error]

    def test_a_killed_child_is_logged_and_the_next_training_starts_a_new_one(self):
        """Kill the child mid-training: scoring goes on with the old model, the child is reaped, a new one trains."""
        bank = LSTMAEBank(**{**TINY, "background": True, "train_in": "process", "refresh_every": 30,
                             "retry_seconds": 0.2, "max_reservoir": 90})
        series = ["a", "b", "c"]
        try:
            with capture_logs() as logs:
                t, _ = feed_until(bank, series, 0, lambda: bank.model_version(FEATURES) >= 1)
                assert bank.wait_idle(timeout=30)  # a refresh may have followed at once
                version = bank.model_version(FEATURES)
                victim = bank.training_pid
                assert victim is not None
                os.kill(victim, signal.SIGSTOP)  # frozen, so the refresh below is surely in its hands when killed
                t, _ = feed_until(bank, series, t, lambda: bank.training(FEATURES))
                os.kill(victim, signal.SIGKILL)
                t, during = feed_until(bank, series, t, lambda: not bank.training(FEATURES))
                assert bank.model_version(FEATURES) == version
                assert not Path(f"/proc/{victim}").exists()  # reaped, not a zombie
                t, _ = feed_until(bank, series, t, lambda: bank.model_version(FEATURES) > version)
                report = bank.last_training(FEATURES)
        finally:
            bank.close()
        assert any(during), "no step was scored while the killed training was pending"
        failed = [e for e in logs if e["event"] == "lstm_ae.training_failed"]
        assert len(failed) == 1 and "exited with code -9" in failed[0]["error"]
        assert report.version == version + 1 and report.pid not in (victim, os.getpid())
