"""Progress bars: on stderr when it is a terminal (a real pseudo-terminal here), never on stdout, never in a pipe;
scoring in slices for the bar gives the arrays scoring at once gives."""

from __future__ import annotations

import dataclasses
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from aiops.detectors.config import DetectionConfig
from aiops.detectors.evaluation.backtest import BacktestRun, read_csv, run_backtests

SKAB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "skab"
BAR = "━"  # rich's bar glyph
ENV = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}


def write_series(path: Path, n: int = 1500) -> Path:
    rng = np.random.default_rng(4)
    values = rng.normal(10.0, 1.0, n)
    values[1200] = 40.0
    path.write_text("timestamp,value,label\n" + "".join(
        f"{1_700_000_000 + 60 * i},{v:.4f},{int(i == 1200)}\n" for i, v in enumerate(values)))
    return path


def skab_folder(tmp_path: Path) -> Path:
    data = tmp_path / "data" / "skab" / "valve1"
    data.mkdir(parents=True)
    shutil.copy(SKAB / "valve1" / "1.csv", data / "1.csv")
    return tmp_path


def commands(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "backtest": ["backtest", str(write_series(tmp_path / "cpu.csv")), "--output-dir", str(tmp_path / "out"),
                     "--no-plot"],
        "skab": ["skab", "--train-rows", "0"],
        "quality": ["quality", "--family", "level_shift_up", "--no-skab"],
    }


#: What each command's bar is called, and a line its results always print on stdout.
EXPECTED = {"backtest": ("backtest", "scored 1500 rows of 1 file(s)"),
            "skab": ("SKAB, 0 training rows", "SKAB outlier problem, 1 files"),
            "quality": ("scenario families", "families within their bounds")}


def run_with_terminal_stderr(argv: list[str], cwd: Path) -> tuple[int, str, bytes]:
    """Run ``aiops ARGV`` with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, terminal bytes)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "aiops.pipeline.cli", *argv], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, cwd=cwd, env=ENV)
    os.close(slave)
    screen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=600)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, out.decode(), bytes(screen)


@pytest.mark.parametrize("command", ["backtest", "skab", "quality"])
def test_a_terminal_sees_the_bar_on_stderr_and_stdout_stays_clean(tmp_path, command):
    """On a terminal the bar (its name, the glyph, the unit) is drawn on stderr; stdout holds the results only."""
    code, out, screen = run_with_terminal_stderr(commands(skab_folder(tmp_path))[command], tmp_path)
    assert code == 0, screen.decode(errors="replace")[-2000:]
    name, result = EXPECTED[command]
    text = screen.decode(errors="replace")
    assert name in text and BAR in text and ("rows" in text or "points" in text), text[-2000:]
    assert result in out
    assert BAR not in out and "\x1b[" not in out


@pytest.mark.parametrize("command", ["backtest", "quality"])  # skab: tests/test_cli_data_paths.py
def test_without_a_terminal_nothing_of_the_bar_is_written(tmp_path, command):
    """Piped (as in CI or `2> file`), stderr gets nothing of a bar: no glyph, no escape codes, no bar name."""
    done = subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", *commands(skab_folder(tmp_path))[command]],
                          capture_output=True, text=True, cwd=tmp_path, env=ENV, stdin=subprocess.DEVNULL,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert EXPECTED[command][1] in done.stdout and BAR not in done.stdout


def head(frame, rows: int):  # noqa: ANN001, ANN201 - Frame
    return dataclasses.replace(frame, times=frame.times[:rows], X=frame.X[:rows],
                               labels=None if frame.labels is None else frame.labels[:rows],
                               stamps=None if frame.stamps is None else frame.stamps[:rows])


def assert_same_runs(a: list[BacktestRun], b: list[BacktestRun]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.detectors == y.detectors
        for field in dataclasses.fields(BacktestRun):
            left, right = getattr(x, field.name), getattr(y, field.name)
            if isinstance(left, np.ndarray):
                np.testing.assert_array_equal(left, right, err_msg=field.name)


def test_scoring_in_slices_gives_the_arrays_of_one_pass(tmp_path):
    """With a bar the rows are scored in slices: every array is the same, bit for bit, and every row is counted.

    Two SKAB files of different lengths side by side (multivariate) after a training file, and a univariate one.
    """
    frames = [head(read_csv(SKAB / "valve1" / "1.csv"), 700), head(read_csv(SKAB / "other" / "13.csv"), 560)]
    train = head(read_csv(SKAB / "anomaly-free" / "anomaly-free.csv"), 200)
    single = [read_csv(write_series(tmp_path / "cpu.csv"))]
    assert len(frames[0].times) != len(frames[1].times)
    config = DetectionConfig()
    done: list[int] = []
    with capture_logs():
        assert_same_runs(run_backtests(frames, config, train=train), run_backtests(frames, config, train=train,
                                                                                   progress=done.append))
        assert sum(done) == sum(len(f.times) for f in frames) + 2 * len(train.times)
        done.clear()
        assert_same_runs(run_backtests(single, config), run_backtests(single, config, progress=done.append))
    assert len(done) > 1 and sum(done) == 1500
