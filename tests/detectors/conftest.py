"""Shared helpers of the detection tests: quiet logs, small synthetic series, SKAB location."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import structlog

SKAB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "skab"


@pytest.fixture(autouse=True)
def _quiet_structlog():
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.reset_defaults()


@pytest.fixture
def noise():
    """A function giving (n, f) standard normal rows from a fixed seed."""

    def make(n: int, f: int = 1, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).normal(size=(n, f))

    return make


@pytest.fixture
def skab_dir() -> Path:
    assert SKAB.is_dir(), f"SKAB data expected at {SKAB}"
    return SKAB
