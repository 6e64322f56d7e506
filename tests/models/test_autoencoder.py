"""The autoencoder, its training and the device choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.models.config import LSTMAEConfig
from aiops.models.data import sliding_windows
from aiops.models.device import autocast_for, grad_scaler_for, select_device
from aiops.models.lstm_ae import LSTMAutoencoder, reconstruction_errors
from aiops.models.train import fit_windows, split_windows

TINY = dict(window=16, hidden=16, latent=4, batch_size=32, lr=1e-2, device="cpu")


def sine(n: int, period: float = 12.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) + phase
    return np.stack([np.sin(2 * np.pi * t / period), np.cos(2 * np.pi * t / period)], axis=1)


class TestReconstruction:
    def test_normal_windows_reconstruct_better_than_anomalous_ones(self):
        """Trained on sines, the model rebuilds sines well and spiked or flat-lined windows badly."""
        windows = sliding_windows(sine(600), 16)
        result = fit_windows(windows, LSTMAEConfig(epochs=12, **TINY))
        normal = torch.from_numpy(sliding_windows(sine(200, phase=3.0), 16)[:50])
        spiked = normal.clone()
        spiked[:, 8, 0] += 4.0
        flat = torch.zeros_like(normal) + 1.5
        err_normal = reconstruction_errors(result.model, normal).mean(dim=(1, 2))
        err_spiked = reconstruction_errors(result.model, spiked).mean(dim=(1, 2))
        err_flat = reconstruction_errors(result.model, flat).mean(dim=(1, 2))
        assert float(err_normal.max()) < float(err_spiked.min())
        assert float(err_normal.max()) < float(err_flat.min())
        assert result.val_error < 0.2

    def test_output_shape_follows_input(self):
        """Any batch and window length comes back with the same shape."""
        ae = LSTMAutoencoder(n_features=3, window=8, hidden=8, latent=2)
        assert ae(torch.randn(7, 11, 3)).shape == (7, 11, 3)


class TestTraining:
    def test_early_stopping_stops_when_validation_stalls(self):
        """With a learning rate too small to help, training stops after `patience` stale epochs."""
        windows = sliding_windows(sine(200), 16)
        cfg = LSTMAEConfig(epochs=30, patience=2, **{**TINY, "lr": 1e-12})
        result = fit_windows(windows, cfg)
        assert result.epochs_run == 3
        assert len(result.history) == 3
        assert np.isfinite(result.val_error)

    def test_split_is_chronological_with_both_sides_non_empty(self):
        """The newest windows validate."""
        windows = np.arange(10, dtype=np.float32).reshape(10, 1, 1)
        train, val = split_windows(windows, 0.3)
        assert train[:, 0, 0].tolist() == list(range(7)) and val[:, 0, 0].tolist() == [7, 8, 9]
        train, val = split_windows(windows[:2], 0.01)
        assert len(train) == 1 and len(val) == 1

    def test_too_few_windows_is_an_input_error(self):
        """One window cannot be split into training and validation."""
        with pytest.raises(InputError):
            fit_windows(np.zeros((1, 16, 2), dtype=np.float32), LSTMAEConfig(**TINY))

    def test_fine_tuning_starts_from_the_given_model_and_leaves_it_untouched(self):
        """`init` is copied: the running model keeps its weights while a new one trains."""
        windows = sliding_windows(sine(200), 16)
        first = fit_windows(windows, LSTMAEConfig(epochs=1, **TINY)).model
        before = {k: v.clone() for k, v in first.state_dict().items()}
        second = fit_windows(windows, LSTMAEConfig(epochs=1, **TINY), init=first).model
        assert second is not first
        assert all(torch.equal(before[k], v) for k, v in first.state_dict().items())


class TestDevice:
    def test_auto_falls_back_to_cpu_without_cuda(self, monkeypatch):
        """No GPU: auto picks the CPU, and mixed precision is off."""
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        device = select_device("auto")
        assert device.type == "cpu"
        assert not grad_scaler_for(device).is_enabled()
        assert autocast_for(device).__class__.__name__ == "nullcontext"

    def test_auto_picks_cuda_when_present(self, monkeypatch):
        """A GPU: auto picks it and asks for float16 autocast."""
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        device = select_device("auto")
        assert device.type == "cuda"
        ctx = autocast_for(device)
        assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.float16

    def test_insisting_on_cuda_without_one_is_a_config_error(self, monkeypatch):
        """`cuda` is not silently downgraded."""
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ConfigError, match="cuda"):
            select_device("cuda")
        with pytest.raises(ConfigError):
            select_device("tpu")


class TestTrainArrays:
    def test_train_arrays_reports_windows_and_rejects_bad_shapes(self):
        """In-memory histories train like files; a wrong feature count is an input error."""
        from aiops.models.train import train_arrays

        result, meta = train_arrays([sine(60), sine(40)], ["a", "b"], LSTMAEConfig(epochs=1, **TINY))
        assert meta["n_windows"] == (60 - 15) + (40 - 15)
        assert meta["data_first"] is None and meta["features"] == ["a", "b"]
        assert result.n_train + result.n_val == meta["n_windows"]
        with pytest.raises(InputError, match="expected shape"):
            train_arrays([np.zeros((30, 3))], ["a", "b"], LSTMAEConfig(**TINY))
