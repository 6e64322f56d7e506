"""Where the model runs: CUDA with mixed precision when there is a GPU, else the CPU.

Every other module asks this one for the device, the autocast context and the
gradient scaler, so the training and scoring code has no device branches.

>>> import torch
>>> select_device("cpu")
device(type='cpu')
>>> autocast_for(torch.device("cpu")).__class__.__name__
'nullcontext'
>>> grad_scaler_for(torch.device("cpu")).is_enabled()
False
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import structlog
import torch

from aiops.detectors.core.errors import ConfigError

log = structlog.get_logger(__name__)


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cuda`` insists (ConfigError without a GPU)."""
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but no CUDA device is available")
        return torch.device("cuda")
    if preference == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    raise ConfigError(f"unknown device {preference!r}; use auto, cpu or cuda")


def autocast_for(device: torch.device) -> ContextManager[object]:
    """Mixed precision (float16) on CUDA; plain float32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler_for(device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler that is active only with CUDA mixed precision."""
    return torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
