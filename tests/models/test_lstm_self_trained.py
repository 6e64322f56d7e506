"""Self-trained LSTM-AE models: saved to the registry with their metadata, reloaded after a restart, cold until then."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from structlog.testing import capture_logs

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine
from aiops.models.config import SaveRef
from aiops.models.detector import LSTMAEBank, saved_name
from aiops.models.registry import CheckpointRegistry

FEATURES = ["user", "system"]
SERIES = ["a", "b", "c"]
TINY = dict(window=8, hidden=8, latent=2, epochs=2, batch_size=32, lr=1e-2, min_train_windows=40,
            refresh_every=0, device="cpu", background=False)


def feed(bank: LSTMAEBank, start: int, stop: int) -> None:
    """Score then learn each step of three phase-shifted sines, as the engine does."""
    for t in range(start, stop):
        X = np.stack([[np.sin(t / 3 + i), 0.5 * np.cos(t / 3 + i)] for i in range(len(SERIES))])
        times = np.full(len(SERIES), 1000.0 + t)
        bank.score(SERIES, X, FEATURES, times)
        bank.learn(SERIES, X, FEATURES, times, np.ones(len(SERIES), dtype=bool))


def events(logs: list[dict], name: str) -> list[dict]:
    return [e for e in logs if e["event"] == name]


@pytest.fixture
def saved(tmp_path):
    """A bank that trained itself once with ``save_to`` set; returns (bank, save_to settings)."""
    save_to = {"dir": str(tmp_path / "models"), "name": "online"}
    bank = LSTMAEBank(**TINY, save_to=save_to)
    with capture_logs():
        feed(bank, 0, 30)  # 23 windows per series: 69 >= 40, one training
    assert bank.model_version(FEATURES) == 1
    return bank, save_to


class TestSaving:
    def test_every_trained_version_is_saved_with_its_metadata(self, saved):
        """The registry holds the model under NAME.SIGNATURE, marked online, with features, window and data range."""
        bank, save_to = saved
        name = saved_name(SaveRef(**save_to), FEATURES)
        registry = CheckpointRegistry(save_to["dir"])
        [meta] = registry.list(name)
        assert (meta.version, meta.trained_from, meta.features, meta.window) == (1, "online", FEATURES, 8)
        assert meta.data_first == 1007.0 and 1007.0 < meta.data_last <= 1028.0
        assert meta.n_windows >= 40 and meta.val_error is not None and meta.val_error > 0
        assert len(meta.residual_std) == 2
        model, _ = registry.load(name)
        for key, value in bank.model(FEATURES).state_dict().items():
            assert torch.equal(model.state_dict()[key], value)

    def test_a_refresh_saves_the_next_version(self, tmp_path):
        """Retraining on schedule writes version 2 next to version 1."""
        save_to = {"dir": str(tmp_path), "name": "online"}
        bank = LSTMAEBank(**{**TINY, "refresh_every": 30}, save_to=save_to)
        with capture_logs() as logs:
            feed(bank, 0, 36)  # first training at step 20 (42 windows), the refresh at step 30 (30 more)
        assert bank.model_version(FEATURES) == 2
        assert [e["version"] for e in events(logs, "lstm_ae.model_saved")] == [1, 2]
        name = saved_name(SaveRef(**save_to), FEATURES)
        assert CheckpointRegistry(tmp_path).versions(name) == [1, 2]

    def test_the_clock_schedule_retrains_once_new_windows_came(self, tmp_path):
        """With refresh_seconds, the next learn after that long (and new windows) trains and saves the next version."""
        bank = LSTMAEBank(**{**TINY, "refresh_seconds": 0.2}, save_to={"dir": str(tmp_path), "name": "online"})
        with capture_logs() as logs:
            feed(bank, 0, 21)
            assert bank.model_version(FEATURES) == 1
            feed(bank, 21, 23)
            assert bank.model_version(FEATURES) == 1
            time.sleep(0.25)
            feed(bank, 23, 24)
        assert bank.model_version(FEATURES) == 2
        assert [e["version"] for e in events(logs, "lstm_ae.model_saved")] == [1, 2]

    def test_a_failed_write_is_logged_and_the_new_model_still_scores(self, tmp_path):
        """A registry that cannot be written (a file where the folder should be) does not stop the stream."""
        blocker = tmp_path / "models"
        blocker.write_text("not a folder")
        bank = LSTMAEBank(**TINY, save_to={"dir": str(blocker), "name": "online"})
        with capture_logs() as logs:
            feed(bank, 0, 30)
        assert events(logs, "lstm_ae.save_failed")
        assert bank.model_version(FEATURES) == 1 and bank.warm(SERIES).all()


class TestRestart:
    def test_a_restarted_bank_scores_with_the_saved_model_and_does_not_retrain(self, saved):
        """A new bank with the same save_to loads version 1, is warm once a window is full, and never trains."""
        bank, save_to = saved
        with capture_logs() as logs:
            restarted = LSTMAEBank(**TINY, save_to=save_to)
            feed(restarted, 0, 8)
            assert restarted.warm(SERIES).all()
            feed(restarted, 8, 40)  # 96 new windows, more than min_train_windows
        [loaded] = events(logs, "lstm_ae.saved_model_loaded")
        assert loaded["version"] == 1
        assert not events(logs, "lstm_ae.trained") and not events(logs, "lstm_ae.model_swapped")
        assert restarted.model_version(FEATURES) == 1
        for key, value in bank.model(FEATURES).state_dict().items():
            assert torch.equal(restarted.model(FEATURES).state_dict()[key], value)
        X = np.array([[0.0, 0.5], [6.0, -3.0], [0.1, 0.4]])
        raw = restarted.score(SERIES, X, FEATURES, np.full(3, 2000.0)).raw
        assert raw[1] > 5 * max(raw[0], raw[2]) > 0

    def test_another_signature_does_not_take_the_saved_model(self, saved):
        """Series with other feature names start cold and untrained."""
        _, save_to = saved
        with capture_logs() as logs:
            other = LSTMAEBank(**TINY, save_to=save_to)
            other.learn(["n"], np.array([[1.0, 2.0]]), ["rx", "tx"], np.zeros(1), np.ones(1, dtype=bool))
        assert not events(logs, "lstm_ae.saved_model_loaded")
        assert other.model(["rx", "tx"]) is None

    @pytest.mark.parametrize("damage, message", [
        ("garbage", "unreadable weights"),
        ("missing", "missing its weights"),
        ("meta", "unreadable metadata"),
    ])
    def test_a_damaged_checkpoint_is_reported_and_the_bank_trains_afresh(self, saved, damage, message):
        """Corrupt weights, missing weights or broken metadata: a warning naming the problem, then training."""
        _, save_to = saved
        folder = CheckpointRegistry(save_to["dir"]).root / saved_name(SaveRef(**save_to), FEATURES) / "1"
        if damage == "garbage":
            (folder / "model.pt").write_bytes(b"\x00not a torch file")
        elif damage == "missing":
            (folder / "model.pt").unlink()
        else:
            (folder / "meta.json").write_text("{")
        with capture_logs() as logs:
            restarted = LSTMAEBank(**TINY, save_to=save_to)
            feed(restarted, 0, 8)
            assert not restarted.warm(SERIES).any()
            feed(restarted, 8, 30)
        [unusable] = events(logs, "lstm_ae.saved_model_unusable")
        assert message in unusable["error"] and unusable["log_level"] == "warning"
        assert events(logs, "lstm_ae.training_afresh")
        assert events(logs, "lstm_ae.model_swapped") and restarted.warm(SERIES).all()
        assert [e["version"] for e in events(logs, "lstm_ae.model_saved")] == [2]

    def test_the_registry_reports_damaged_weights_as_config_errors(self, saved):
        """Loading garbage weights directly is a ConfigError naming the file."""
        _, save_to = saved
        name = saved_name(SaveRef(**save_to), FEATURES)
        registry = CheckpointRegistry(save_to["dir"])
        (registry.root / name / "1" / "model.pt").write_bytes(b"junk")
        with pytest.raises(ConfigError, match=r"model\.pt has unreadable weights"):
            registry.load(name)


class TestUntrainedStart:
    def test_the_engine_ignores_the_autoencoder_until_it_has_a_model(self):
        """Cold rows (no model yet) give the detector no say: its calibrated score stays 0.5 and nothing is flagged."""
        config = DetectionConfig.model_validate({
            "warmup": 10,
            "detectors": [{"type": "zscore"},
                          {"type": "lstm_ae", "params": {**TINY, "min_train_windows": 2000}}],
        })
        engine = build_engine(config)
        rng = np.random.default_rng(0)
        scores = []
        with capture_logs():
            for t in range(60):
                batch = [Event(source="metric", series_id=s, labels={}, time=float(t),
                               features={"user": float(rng.normal()), "system": float(rng.normal())})
                         for s in SERIES]
                scores += engine.process(batch)
        assert all(s.raw["lstm_ae"] == 0.0 and s.detectors["lstm_ae"] == 0.5 for s in scores)
        assert len({s.detectors["zscore"] for s in scores[-30:]}) > 1
