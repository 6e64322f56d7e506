"""Training: windows in, a fitted autoencoder and its validation error out.

The latest ``val_fraction`` of the windows is held out; training stops when
the validation error has not improved for ``patience`` epochs, and the best
epoch's weights are kept.

>>> import numpy as np
>>> from structlog.testing import capture_logs
>>> t = np.arange(100) / 8.0
>>> values = np.stack([np.sin(t), np.cos(t)], axis=1)
>>> cfg = LSTMAEConfig(window=8, hidden=8, latent=2, epochs=2, device="cpu")
>>> with capture_logs():
...     result = fit_windows(sliding_windows(values, 8), cfg)
>>> result.n_train + result.n_val, result.residual_std.shape
(93, (2,))
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import structlog
import torch

from aiops.detectors.core.errors import InputError
from aiops.models.config import LSTMAEConfig
from aiops.models.data import History, Scaler, sliding_windows
from aiops.models.device import autocast_for, grad_scaler_for, select_device
from aiops.models.lstm_ae import LSTMAutoencoder

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class TrainResult:
    """A trained model and what its validation said about it (errors in standardised units)."""

    model: LSTMAutoencoder
    val_error: float
    residual_std: np.ndarray
    epochs_run: int
    n_train: int
    n_val: int
    seconds: float
    device: str
    history: list[float] = field(default_factory=list)


def split_windows(windows: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Chronological split: the last share of windows validates (at least one each side)."""
    n_val = min(max(1, int(round(len(windows) * val_fraction))), len(windows) - 1)
    return windows[: len(windows) - n_val], windows[len(windows) - n_val :]


def _batches(x: torch.Tensor, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(len(x), generator=generator)
    return [x[order[i : i + size]] for i in range(0, len(x), size)]


def _val_errors(model: LSTMAutoencoder, x: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    model.eval()
    out = []
    with torch.inference_mode(), autocast_for(device):
        for i in range(0, len(x), batch):
            chunk = x[i : i + batch].to(device)
            out.append((model(chunk).float() - chunk) ** 2)
    return torch.cat(out)


def fit_windows(
    windows: np.ndarray,
    config: LSTMAEConfig,
    *,
    init: LSTMAutoencoder | None = None,
    device: torch.device | None = None,
) -> TrainResult:
    """Train on (n, W, F) standardised windows; ``init`` fine-tunes a copy of an existing model."""
    if windows.ndim != 3 or len(windows) < 2:
        raise InputError(f"need at least 2 windows shaped (n, W, F); got {windows.shape}")
    device = device or select_device(config.device)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)
    n_features, window = windows.shape[2], windows.shape[1]
    if init is not None:
        model = copy.deepcopy(init).cpu()
    else:
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the process's RNG
            torch.manual_seed(config.seed)
            model = LSTMAutoencoder(n_features, window, config.hidden, config.latent, reverse=config.reverse)
    model.to(device)
    train_np, val_np = split_windows(windows, config.val_fraction)
    train_x = torch.from_numpy(np.ascontiguousarray(train_np, dtype=np.float32))
    val_x = torch.from_numpy(np.ascontiguousarray(val_np, dtype=np.float32))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = grad_scaler_for(device)
    best = math.inf
    best_state = copy.deepcopy(model.state_dict())
    stale = 0
    history: list[float] = []
    epochs_run = 0
    for epoch in range(config.epochs):
        model.train()
        for batch in _batches(train_x, config.batch_size, generator):
            batch = batch.to(device, non_blocking=True)
            optimiser.zero_grad(set_to_none=True)
            with autocast_for(device):
                loss = torch.mean((model(batch).float() - batch) ** 2)
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimiser)
            scaler.update()
        val = float(_val_errors(model, val_x, config.batch_size * 4, device).mean())
        history.append(val)
        epochs_run = epoch + 1
        if val < best - 1e-7:
            best, stale = val, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    errors = _val_errors(model, val_x, config.batch_size * 4, device)
    residual_std = errors.mean(dim=(0, 1)).sqrt().cpu().numpy().astype(np.float64)
    result = TrainResult(
        model=model.cpu() if device.type != "cpu" else model,
        val_error=float(errors.mean()),
        residual_std=residual_std,
        epochs_run=epochs_run,
        n_train=len(train_np),
        n_val=len(val_np),
        seconds=time.perf_counter() - started,
        device=device.type,
        history=history,
    )
    log.info("lstm_ae.trained", windows=len(windows), epochs=epochs_run, val_error=result.val_error,
             seconds=round(result.seconds, 3), device=device.type)
    return result


def windows_from_histories(histories: Sequence[History], window: int) -> np.ndarray:
    """Each file standardised on its own (as each live series is), then cut into windows."""
    parts = [sliding_windows(Scaler.fit(h.values).transform(h.values), window) for h in histories]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise InputError(f"no file has {window} rows or more: nothing to train on")
    return np.concatenate(parts)


def train_histories(histories: Sequence[History], config: LSTMAEConfig) -> tuple[TrainResult, dict[str, object]]:
    """Train on history files; returns the result and the metadata the registry keeps."""
    if not histories:
        raise InputError("no history to train on")
    features = histories[0].features
    for h in histories[1:]:
        if h.features != features:
            raise InputError(f"{h.path}: features {h.features} differ from {features}")
    windows = windows_from_histories(histories, config.window)
    result = fit_windows(windows, config)
    times = np.concatenate([h.times for h in histories])
    finite = times[np.isfinite(times)]
    all_values = np.concatenate([h.values for h in histories])
    meta: dict[str, object] = {
        "features": list(features),
        "window": config.window,
        "data_first": float(finite.min()) if len(finite) else None,
        "data_last": float(finite.max()) if len(finite) else None,
        "n_windows": int(len(windows)),
        "val_error": result.val_error,
        "residual_std": result.residual_std.tolist(),
        "data_mean": all_values.mean(axis=0).tolist(),
        "data_std": all_values.std(axis=0).tolist(),
        "device": result.device,
        "sources": [h.path for h in histories],
    }
    return result, meta


def train_arrays(
    arrays: Sequence[np.ndarray], features: Sequence[str], config: LSTMAEConfig
) -> tuple[TrainResult, dict[str, object]]:
    """Train on in-memory (T, F) histories, one array per series."""
    histories = [
        History(f"array-{i}", list(features), np.full(len(a), np.nan), np.asarray(a, dtype=np.float64))
        for i, a in enumerate(arrays)
    ]
    for h in histories:
        if h.values.ndim != 2 or h.values.shape[1] != len(features):
            raise InputError(f"{h.path}: expected shape (T, {len(features)}), got {h.values.shape}")
    return train_histories(histories, config)


def train_files(
    paths: Sequence[str], config: LSTMAEConfig, features: Sequence[str] | None = None
) -> tuple[TrainResult, dict[str, object]]:
    """Train on CSV history files (see ``aiops.models.data.read_history``)."""
    from aiops.models.data import read_history

    return train_histories([read_history(p, features) for p in paths], config)
