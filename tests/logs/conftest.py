"""Paths to the shared labelled log samples (beside the project's checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest

LOGHUB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "loghub"


@pytest.fixture(scope="session")
def loghub() -> Path:
    path = LOGHUB.resolve()
    assert (path / "HDFS").is_dir(), f"shared loghub samples missing at {path}"
    return path
