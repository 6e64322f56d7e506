"""`aiops backtest --help` says what a file must hold, what a labels file looks like and what comes out."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def help_text() -> str:
    done = subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", "backtest", "--help"], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def section(text: str, heading: str) -> str:
    """The help text from ``heading`` to the next blank line."""
    start = text.index(heading)
    end = text.find("\n\n", start)
    return text[start:end if end >= 0 else None]


class TestBacktestHelp:
    def test_input_columns(self, help_text):
        """The time column's names and formats, univariate and multivariate features, the label columns."""
        part = section(help_text, "input columns")
        for word in ("timestamp, datetime, time", "Unix seconds", "ISO 8601", "timestamp,value", "multivariate",
                     "anomaly, label, is_anomaly", "--label-column", "--sep"):
            assert word in part, word

    def test_labels_file(self, help_text):
        """The NAB windows JSON: its shape, with an example, and which files it judges."""
        part = section(help_text, "labels file")
        assert "--nab-labels" in part and "combined_windows.json" in part and "[start, end]" in part
        assert '"realKnownCause/' in part and "label column" in part

    def test_output_columns(self, help_text):
        """Every column of the scores file the command writes is explained, in the file's order."""
        from aiops.detectors.evaluation.backtest import SCORE_COLUMNS

        columns = list(SCORE_COLUMNS)
        part = section(help_text, "output, in --output-dir")
        positions = [part.index(f"\n    {c} ") for c in columns]
        assert positions == sorted(positions), columns
        assert ".scores.csv" in part and ".png" in part

    def test_example_invocations(self, help_text):
        """Examples that parse as the command's own arguments."""
        from aiops.pipeline.cli import build_parser

        examples = [line.strip() for line in section(help_text, "example:").splitlines()[1:]]
        assert examples and all(line.startswith("aiops backtest ") for line in examples)
        for line in examples:
            args = build_parser().parse_args(line.split()[1:])
            assert args.command == "backtest" and args.files
