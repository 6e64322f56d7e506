"""The LSTM autoencoder inside the engine: multivariate groups only, abstaining until trained, never blocking, causal."""

from __future__ import annotations

import time

import numpy as np
import pytest
from structlog.testing import capture_logs

from aiops.detectors.config import DetectionConfig, DetectorSpec
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine

FEATS = ["a", "b", "c"]
TINY = dict(window=8, hidden=8, latent=3, epochs=4, batch_size=32, lr=1e-2, min_train_windows=150,
            refresh_every=0, refresh_seconds=None, device="cpu", background=False, min_features=2)


def with_lstm(**params) -> DetectionConfig:
    """The default detectors and the autoencoder, multivariate groups only."""
    base = DetectionConfig()
    return base.model_copy(update={"detectors": [*base.detectors,
                                                 DetectorSpec(type="lstm_ae", params={**TINY, **params})]})


def sensors(n: int, seed: int = 0) -> np.ndarray:
    """Three sensors following one slow cycle, with mild noise."""
    rng = np.random.default_rng(seed)
    base = np.sin(np.arange(n) / 6.0)[:, None]
    return np.hstack([base + 10.0 + 0.05 * rng.normal(size=(n, 1)), 2.0 * base + 0.05 * rng.normal(size=(n, 1)),
                      np.cos(np.arange(n) / 6.0)[:, None] + 0.05 * rng.normal(size=(n, 1))])


def events(sid: str, X: np.ndarray, feats: list[str], start: int = 0) -> list[Event]:
    return [Event("metric", sid, {}, float(start + i), dict(zip(feats, map(float, row)))) for i, row in enumerate(X)]


def as_tuple(s):
    return (s.score, s.is_anomaly, s.detectors, s.raw, s.contributions, s.expected, s.learned, s.anomaly_score,
            s.alert, s.episode, s.ended)


def without_lstm(s):
    """``as_tuple`` of a score with the autoencoder's columns dropped."""
    drop = {"lstm_ae"}
    return as_tuple(s)[:2] + ({k: v for k, v in s.detectors.items() if k not in drop},
                               {k: v for k, v in s.raw.items() if k not in drop}) + as_tuple(s)[4:]


def lstm_bank(engine):
    return next(m.bank for g in engine._groups.values() for m in g.members if m.key == "lstm_ae")


class TestMultivariateOnly:
    def test_a_univariate_series_never_builds_it_and_scores_as_without_it(self):
        """min_features 2: one-feature series have no lstm_ae column and score bit for bit as the default does;
        a three-feature series has the column."""
        rng = np.random.default_rng(1)
        single = events("cpu", 50.0 + rng.normal(size=(300, 1)), ["v"])
        with capture_logs():
            plain = build_engine(DetectionConfig()).process(single)
            engine = build_engine(with_lstm())
            added = engine.process(single)
            multi = engine.process(events("group", sensors(20), FEATS))
        assert [as_tuple(s) for s in added] == [as_tuple(s) for s in plain]
        assert "lstm_ae" not in added[0].detectors
        assert "lstm_ae" in multi[0].detectors


class TestWarmGate:
    def test_it_abstains_until_trained_then_finds_a_sensor_leaving_the_cycle(self):
        """Before its first model every score is the default's, bit for bit (raw 0, calibrated 0.5); after it,
        its raw scores are live and a sensor leaving the shared cycle is an anomaly to it."""
        X = sensors(700)
        X[620:640, 1] += 3.0  # the second sensor leaves the cycle the others follow
        with capture_logs():
            plain = build_engine(DetectionConfig()).process(events("group", X, FEATS))
            scores = build_engine(with_lstm()).process(events("group", X, FEATS))
        live = [i for i, s in enumerate(scores) if s.raw["lstm_ae"] > 0.0]
        assert live, "the autoencoder never trained"
        first = live[0]
        assert first >= TINY["min_train_windows"]  # it waited for its windows
        assert all(s.raw["lstm_ae"] == 0.0 and s.detectors["lstm_ae"] == 0.5 for s in scores[:first])
        assert [without_lstm(s) for s in scores[:first]] == [as_tuple(s) for s in plain[:first]]
        assert live == list(range(first, len(scores)))  # from then on it always scores
        calibrated = np.array([s.detectors["lstm_ae"] for s in scores])
        assert calibrated[first + 30:600].max() < calibrated[620:640].max()
        assert calibrated[620:640].max() >= DetectionConfig().threshold


@pytest.fixture(scope="module")
def training_process():
    from aiops.models.train_worker import acquire_shared_worker, release_shared_worker

    acquire_shared_worker()
    yield
    release_shared_worker()


class TestBackgroundTraining:
    def test_the_engine_scores_on_while_the_training_process_trains(self, training_process):
        """train_in process: steps go on being scored (the autoencoder abstaining) while its first model trains
        in another process; the model is then swapped in and scores."""
        config = with_lstm(background=True, train_in="process", epochs=20, patience=20)
        engine = build_engine(config)
        X = sensors(40_000)
        scored_while_training = 0
        t = 0
        deadline = time.monotonic() + 180
        with capture_logs() as logs:
            while True:
                assert time.monotonic() < deadline and t < len(X), "the model never arrived"
                bank = lstm_bank(engine) if engine._groups else None
                training = bank is not None and bank.training(FEATS)
                [score] = engine.process(events("group", X[t:t + 1], FEATS, t))
                assert np.isfinite(score.score)
                if training and bank.training(FEATS):  # trained all through this step: no model to score with
                    scored_while_training += 1
                    assert score.raw["lstm_ae"] == 0.0 and score.detectors["lstm_ae"] == 0.5
                if score.raw["lstm_ae"] > 0.0:
                    break
                t += 1
                time.sleep(0.002)
            lstm_bank(engine).close()
        assert scored_while_training > 0
        swapped = [e for e in logs if e["event"] == "lstm_ae.model_swapped"]
        assert swapped and swapped[0]["where"] == "process"


class TestCausality:
    def test_first_half_equals_whole_with_the_autoencoder_trained_inside_it(self):
        """Two multivariate series side by side: scores of the first half do not change when the second half comes,
        though the autoencoder trained in the first half."""
        items = [("x", sensors(500, 1)), ("y", sensors(500, 2))]
        items[0][1][400, 1] += 3.0

        def run(n: int) -> list:
            evs = [e for sid, X in items for e in events(sid, X[:n], FEATS)]
            evs.sort(key=lambda e: (e.time, e.series_id))
            with capture_logs():
                return build_engine(with_lstm(min_train_windows=200)).process(evs)

        first, whole = run(250), run(500)
        assert any(s.raw["lstm_ae"] > 0 for s in first)  # trained within the first half
        assert [as_tuple(s) for s in first] == [as_tuple(s) for s in whole[:len(first)]]
