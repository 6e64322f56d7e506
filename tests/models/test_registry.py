"""The on-disk checkpoint registry."""

from __future__ import annotations

import json

import pytest
import torch

from aiops.detectors.core.errors import ConfigError
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.registry import CheckpointRegistry


def meta(**extra):
    return {"name": "cpu", "features": ["user", "system"], "window": 8, "n_windows": 40, "val_error": 0.1, **extra}


def model(seed: int) -> LSTMAutoencoder:
    torch.manual_seed(seed)
    return LSTMAutoencoder(n_features=2, window=8, hidden=8, latent=3)


class TestCheckpointRegistry:
    def test_round_trip_gives_identical_outputs(self, tmp_path):
        """A loaded checkpoint computes exactly what the saved model computed."""
        reg = CheckpointRegistry(tmp_path)
        saved = model(1).eval()
        version = reg.save(saved, meta(data_first=10.0, data_last=20.0))
        loaded, info = reg.load("cpu", version)
        x = torch.randn(5, 8, 2)
        with torch.inference_mode():
            assert torch.equal(saved(x), loaded(x))
        assert info.architecture == {"n_features": 2, "window": 8, "hidden": 8, "latent": 3, "reverse": 0}
        assert (info.data_first, info.data_last, info.n_windows) == (10.0, 20.0, 40)
        assert info.torch_version == torch.__version__ and info.created_at

    def test_versions_count_up_and_latest_is_the_newest(self, tmp_path):
        """Each save is a new version; `latest` loads the highest; list shows all."""
        reg = CheckpointRegistry(tmp_path)
        first, second = model(1), model(2)
        assert reg.save(first, meta()) == 1
        assert reg.save(second, meta(val_error=0.05)) == 2
        reg.save(model(3), meta(name="mem"))
        latest, info = reg.load("cpu")
        assert info.version == 2 and info.val_error == 0.05
        version_one, _ = reg.load("cpu", "1")
        x = torch.randn(2, 8, 2)
        with torch.inference_mode():
            assert torch.equal(latest(x), second.eval()(x))
            assert torch.equal(version_one(x), first.eval()(x))
        assert [(m.name, m.version) for m in reg.list()] == [("cpu", 1), ("cpu", 2), ("mem", 1)]
        assert [m.version for m in reg.list("mem")] == [1]

    def test_writes_leave_no_partial_versions(self, tmp_path):
        """Only complete version folders exist after saving; temporary folders are gone."""
        reg = CheckpointRegistry(tmp_path)
        reg.save(model(1), meta())
        assert sorted(p.name for p in (tmp_path / "cpu").iterdir()) == ["1"]
        assert sorted(p.name for p in (tmp_path / "cpu" / "1").iterdir()) == ["meta.json", "model.pt"]

    def test_missing_and_broken_checkpoints_are_config_errors(self, tmp_path):
        """Unknown names, versions and unreadable metadata are reported clearly."""
        reg = CheckpointRegistry(tmp_path)
        with pytest.raises(ConfigError, match="no checkpoint named 'cpu'"):
            reg.load("cpu")
        reg.save(model(1), meta())
        with pytest.raises(ConfigError, match="version 7"):
            reg.load("cpu", 7)
        with pytest.raises(ConfigError, match="number or 'latest'"):
            reg.load("cpu", "newest")
        (tmp_path / "cpu" / "1" / "meta.json").write_text(json.dumps({"name": "cpu"}))
        with pytest.raises(ConfigError, match="unreadable metadata"):
            reg.load("cpu")
        with pytest.raises(ConfigError, match="invalid checkpoint metadata"):
            reg.save(model(1), meta(name="bad name/with slash"))

    def test_empty_registry_lists_nothing(self, tmp_path):
        """A folder that does not exist yet is an empty registry."""
        assert CheckpointRegistry(tmp_path / "absent").list() == []
