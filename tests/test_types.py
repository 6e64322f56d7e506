"""mypy, strict, on the core: the types every room builds on are checked, not just written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_core_passes_mypy_strict(tmp_path):
    # The core installs as aiops.detectors.core from detectors/core (pyproject's package-dir mapping); mypy reads it
    # through the same name. The core imports nothing else of the project, so nothing else is checked.
    (tmp_path / "aiops").mkdir()
    (tmp_path / "aiops" / "detectors").symlink_to(ROOT / "detectors")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
                           "-p", "aiops.detectors.core"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues found" in done.stdout


def test_mypy_would_fail_a_core_type_error(tmp_path):
    """The check is not hollow: a wrongly typed function in a copy of the core is reported."""
    (tmp_path / "aiops" / "detectors").mkdir(parents=True)
    (tmp_path / "aiops" / "detectors" / "__init__.py").write_text("")
    core = tmp_path / "aiops" / "detectors" / "core"
    core.mkdir()
    (core / "__init__.py").write_text("")
    (core / "bad.py").write_text("def half(x: int) -> int:\n    return x / 2\n")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
                           "-p", "aiops.detectors.core"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "bad.py:2" in done.stdout, done.stdout
