"""Where the LSTM autoencoder bank's models come from and go to: the checkpoint registry.

A bank may start from a named checkpoint (``adopt_checkpoint``), pick up the
newest model it saved itself for a signature (``load_saved``), and save every
model it trains (``save_trained`` when trained here, ``save_plan`` for the
training process, which saves what it trains). Self-trained models are kept
as ``NAME.SIGNATURE`` (``saved_name``). A failed write is logged and the
stream goes on: the model in memory is already in use.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Sequence

import numpy as np
import structlog
import torch

from aiops.detectors.core.errors import ConfigError
from aiops.models.config import SaveRef
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.registry import CheckpointRegistry
from aiops.models.signature_group import STD_FLOOR, FittedModel, SignatureGroup
from aiops.models.train_worker import SavePlan

log = structlog.get_logger(__name__)


def saved_name(save_to: SaveRef, features: Sequence[str]) -> str:
    """The registry name of one signature's self-trained models: ``NAME.`` and a digest of the feature names.

    >>> saved_name(SaveRef(dir="/var/aiops/models", name="online"), ["cpu.user"])
    'online.7fbe9f4c466f'
    """
    digest = hashlib.sha256("\x1f".join(features).encode()).hexdigest()[:12]
    return f"{save_to.name}.{digest}"


def adopt_checkpoint(group: SignatureGroup, name: str, model: LSTMAutoencoder, meta: Any, device: torch.device,
                     prior_weight: int) -> None:
    """Score the group's series with a checkpoint's model (unless a saved model of its own came first)."""
    if group.fitted is not None:
        log.info("lstm_ae.checkpoint_superseded", name=name, by=group.fitted.source)
        return
    residual = np.asarray(meta.residual_std or [1.0] * len(meta.features), dtype=np.float64)
    group.versions = 1
    if prior_weight and meta.data_mean is not None and meta.data_std is not None:
        std = np.maximum(np.asarray(meta.data_std), STD_FLOOR)
        group.prior = (np.asarray(meta.data_mean, dtype=np.float64), std, prior_weight)
    group.fitted = FittedModel(model.to(device).eval(), 1, residual, f"{name}:{meta.version}")
    log.info("lstm_ae.checkpoint_loaded", name=name, version=meta.version, features=meta.features)


def load_saved(group: SignatureGroup, save_to: SaveRef, device: torch.device) -> None:
    """Start a new signature from its newest usable self-trained model, if one was saved."""
    name = saved_name(save_to, group.features)
    registry = CheckpointRegistry(save_to.dir)
    versions = registry.versions(name)
    for version in reversed(versions):
        try:
            model, meta = registry.load(name, version)
            if tuple(meta.features) != group.features or meta.window != group.window:
                raise ConfigError(f"checkpoint {name!r} version {version} is for features {meta.features} and "
                                  f"window {meta.window}, not {list(group.features)} and window {group.window}")
        except ConfigError as exc:
            log.warning("lstm_ae.saved_model_unusable", name=name, version=version, error=str(exc))
            continue
        residual = np.asarray(meta.residual_std or [1.0] * len(meta.features), dtype=np.float64)
        group.versions = meta.version
        group.fitted = FittedModel(model.to(device).eval(), meta.version, residual, f"{name}:{version}")
        group.last_train = time.monotonic()
        log.info("lstm_ae.saved_model_loaded", name=name, version=version, features=meta.features,
                 val_error=meta.val_error, dir=save_to.dir)
        return
    if versions:
        log.warning("lstm_ae.training_afresh", name=name, reason="no usable saved model", tried=len(versions))


def _online_meta(group: SignatureGroup, save_to: SaveRef) -> dict[str, Any]:
    """What a self-trained model's metadata says of its signature and of the span its reservoir covers."""
    finite = bool(np.isfinite([group.first_time, group.last_time]).all())
    return {
        "name": saved_name(save_to, group.features),
        "features": list(group.features),
        "window": group.window,
        "data_first": group.first_time if finite else None,
        "data_last": group.last_time if finite else None,
    }


def save_trained(group: SignatureGroup, save_to: SaveRef, model: LSTMAutoencoder, val_error: float,
                 residual_std: np.ndarray, n_windows: int, device: torch.device) -> None:
    """Write a model trained here to the registry; a failed write is logged and the stream goes on."""
    meta = {
        **_online_meta(group, save_to),
        "n_windows": n_windows,
        "val_error": val_error,
        "residual_std": residual_std.tolist(),
        "device": device.type,
        "trained_from": "online",
    }
    try:
        version = CheckpointRegistry(save_to.dir).save(model, meta)
    except Exception:  # a full disk must not stop scoring; the model in memory is already in use
        log.exception("lstm_ae.save_failed", name=meta["name"], dir=save_to.dir)
        return
    log.info("lstm_ae.model_saved", name=meta["name"], version=version, features=meta["features"])


def save_plan(group: SignatureGroup, save_to: SaveRef | None, device: torch.device) -> SavePlan | None:
    """Where the training process saves the model it trains, and its metadata (what the reservoir covers)."""
    if save_to is None:
        return None
    return SavePlan(save_to.dir, {**_online_meta(group, save_to), "device": device.type,
                                  "trained_from": "online"})


def save_checkpoint(group: SignatureGroup, root: str, name: str, device: torch.device) -> int:
    """Save the signature's current model under ``name`` (to start from it after a restart); its version."""
    fitted = group.fitted
    if fitted is None:
        raise ConfigError(f"no model yet for features {list(group.features)}")
    meta = {
        "name": name,
        "features": list(group.features),
        "window": group.window,
        "n_windows": group.filled,
        "residual_std": fitted.residual_std.tolist(),
        "device": device.type,
        "trained_from": "online" if fitted.source == "trained" else "history",
    }
    return CheckpointRegistry(root).save(fitted.model, meta)
