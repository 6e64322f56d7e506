"""`aiops train` and `aiops models list`, run as a user would, on real CSV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiops.detectors.core.errors import InputError
from aiops.models.cli import main
from aiops.models.data import HistoryFileError, read_history
from aiops.models.registry import CheckpointRegistry

SKAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "skab"


def write_csv(path: Path, n: int, sep: str = ",") -> Path:
    t = np.arange(n)
    lines = [sep.join(["timestamp", "cpu", "mem", "anomaly"])]
    for i in t:
        lines.append(sep.join([str(1_700_000_000 + int(i)), f"{np.sin(i / 4):.5f}", f"{np.cos(i / 4):.5f}", "0"]))
    path.write_text("\n".join(lines) + "\n")
    return path


class TestTrainCommand:
    def test_train_then_list(self, tmp_path, capsys):
        """Training saves a versioned checkpoint whose metadata describes the data; list shows it."""
        a = write_csv(tmp_path / "a.csv", 120)
        b = write_csv(tmp_path / "b.csv", 80, sep=";")
        out = tmp_path / "ckpt"
        code = main(["train", "--data", str(a), str(b), "--out", str(out), "--window", "8", "--epochs", "2",
                     "--hidden", "8", "--latent", "2", "--name", "hosts", "--device", "cpu"])
        assert code == 0
        assert "saved hosts version 1" in capsys.readouterr().out
        (info,) = CheckpointRegistry(out).list()
        assert info.features == ["cpu", "mem"]
        assert info.n_windows == (120 - 7) + (80 - 7)
        assert (info.data_first, info.data_last) == (1_700_000_000.0, 1_700_000_119.0)
        assert info.window == 8 and info.val_error is not None and info.device == "cpu"
        assert main(["models", "list", "--dir", str(out)]) == 0
        listing = capsys.readouterr().out
        assert "hosts" in listing and "cpu,mem" in listing and "2023-11-14" in listing

    def test_bad_file_exits_with_a_message(self, tmp_path, capsys):
        """A missing file or a missing feature column is an error message and exit code 2, not a traceback."""
        assert main(["train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 2
        assert "cannot read" in capsys.readouterr().err
        a = write_csv(tmp_path / "a.csv", 50)
        assert main(["train", "--data", str(a), "--out", str(tmp_path), "--features", "disk"]) == 2
        assert "disk" in capsys.readouterr().err

    def test_list_of_an_empty_folder(self, tmp_path, capsys):
        """Nothing saved yet is said plainly."""
        assert main(["models", "list", "--dir", str(tmp_path)]) == 0
        assert "no checkpoints" in capsys.readouterr().out


class TestReadHistory:
    def test_reads_skab_sensor_file(self):
        """SKAB's semicolon files give eight sensor features (labels excluded) and UTC times."""
        h = read_history(SKAB / "valve1" / "0.csv")
        assert len(h.features) == 8 and "anomaly" not in h.features and "Pressure" in h.features
        assert h.values.shape == (len(h.times), 8)
        assert np.all(np.diff(h.times) > 0)

    def test_non_numeric_values_are_input_errors(self, tmp_path):
        """A bad cell names the file."""
        path = tmp_path / "bad.csv"
        path.write_text("time,cpu\n1,0.5\n2,high\n")
        with pytest.raises(HistoryFileError, match="bad.csv") as info:
            read_history(path)
        assert isinstance(info.value, InputError)
