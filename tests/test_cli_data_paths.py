"""Commands that read a data set take its path, and without one say what to download and where to put it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aiops.detectors.evaluation.datasets import DATA_DIR_ENV, SKAB, DataNotFound

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def aiops(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != DATA_DIR_ENV}
    return subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**environ, **(env or {})}, stdin=subprocess.DEVNULL, timeout=300)


def assert_one_clear_line(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]


class TestMissingData:
    def test_skab_without_data_says_what_to_download(self, tmp_path):
        """`aiops skab` with no SKAB anywhere it looks: one line with the URL, the option and the folder."""
        done = aiops("skab", cwd=tmp_path, env={DATA_DIR_ENV: str(tmp_path / "empty")})
        assert_one_clear_line(done, "no SKAB data found", str(tmp_path / "empty" / "skab"),
                              "https://github.com/waico/SKAB", "--data DIR", "./data/skab", DATA_DIR_ENV)
        assert done.stdout == ""

    def test_logs_accuracy_without_data_says_what_to_download(self, tmp_path):
        """`aiops logs accuracy` with no loghub anywhere it looks: one line with the URL and where to put it."""
        done = aiops("logs", "accuracy", cwd=tmp_path, env={DATA_DIR_ENV: str(tmp_path / "empty")})
        assert_one_clear_line(done, "no loghub data found", "https://github.com/logpai/loghub", "--data DIR",
                              "./data/loghub")

    def test_a_given_folder_without_the_data_is_named(self, tmp_path):
        """`--data DIR` that holds no SKAB: the folder is named, with what it should hold."""
        done = aiops("skab", "--data", str(tmp_path), cwd=tmp_path)
        assert_one_clear_line(done, f"no SKAB data in {tmp_path}", "valve1/", "https://github.com/waico/SKAB")

    def test_default_search_without_environment(self, tmp_path):
        """Without the variable, the current directory's data/ and ../shared/data/ are looked in, in order."""
        with pytest.raises(DataNotFound) as err:
            SKAB.locate(None, environ={}, cwd=tmp_path / "work", checkout=None)
        assert f"looked in {tmp_path / 'work' / 'data' / 'skab'}, {tmp_path / 'shared' / 'data' / 'skab'})" \
            in str(err.value)
        (tmp_path / "shared" / "data" / "skab" / "valve2").mkdir(parents=True)
        assert SKAB.locate(None, environ={}, cwd=tmp_path / "work", checkout=None) == \
            tmp_path / "shared" / "data" / "skab"
        (tmp_path / "work" / "data" / "skab" / "other").mkdir(parents=True)
        assert SKAB.locate(None, environ={}, cwd=tmp_path / "work", checkout=None) == \
            tmp_path / "work" / "data" / "skab"


class TestInstalledPackage:
    def test_outside_a_checkout_only_the_current_directory_is_looked_in(self, tmp_path):
        """The package laid out as a wheel installs it, run elsewhere: no path beside the package is tried."""
        site = tmp_path / "site-packages" / "aiops"
        root = Path(__file__).resolve().parents[1]
        for part in ("pipeline", "detectors", "models", "alerting"):  # pyproject's package-dir mapping
            shutil.copytree(root / part, site / part, ignore=shutil.ignore_patterns("__pycache__"))
        (tmp_path / "outside").mkdir()
        done = aiops("skab", cwd=tmp_path / "outside", env={"PYTHONPATH": str(site.parent)})
        assert_one_clear_line(done, f"looked in {tmp_path / 'outside' / 'data' / 'skab'}, "
                                    f"{tmp_path / 'shared' / 'data' / 'skab'}):", "https://github.com/waico/SKAB")
        where = subprocess.run([sys.executable, "-c", "import aiops.detectors.evaluation.datasets as d; print(d.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path / "outside", timeout=60,
                               env={**os.environ, "PYTHONPATH": str(site.parent)})
        assert where.stdout.strip() == str(site / "detectors" / "evaluation" / "datasets.py")  # the copy ran, not the checkout


class TestExplicitPath:
    def test_logs_accuracy_reads_the_given_folder(self, tmp_path):
        """A loghub copy anywhere, named by --data, is read: its system's row comes out."""
        copy = tmp_path / "elsewhere" / "logs"
        shutil.copytree(SHARED / "loghub" / "HDFS", copy / "HDFS")
        done = aiops("logs", "accuracy", "--data", str(copy), "--systems", "HDFS", cwd=tmp_path,
                     env={DATA_DIR_ENV: str(tmp_path / "empty")})  # the option wins over the variable
        assert done.returncode == 0, done.stderr
        row = next(line for line in done.stdout.splitlines() if line.startswith("HDFS"))
        assert row.split()[1] == "2000"

    def test_the_environment_variable_is_found_from_any_directory(self, tmp_path):
        """AIOPS_DATA_DIR holding loghub/ is where `aiops logs accuracy` reads, wherever it runs."""
        shutil.copytree(SHARED / "loghub" / "Apache", tmp_path / "sets" / "loghub" / "Apache")
        done = aiops("logs", "accuracy", "--systems", "Apache", cwd=tmp_path,
                     env={DATA_DIR_ENV: str(tmp_path / "sets")})
        assert done.returncode == 0, done.stderr
        assert any(line.startswith("Apache") for line in done.stdout.splitlines())

    def test_skab_reads_data_in_the_current_directory(self, tmp_path):
        """./data/skab in the current directory is found without an option and scored."""
        (tmp_path / "data" / "skab" / "valve1").mkdir(parents=True)
        shutil.copy(SHARED / "skab" / "valve1" / "0.csv", tmp_path / "data" / "skab" / "valve1" / "0.csv")
        done = aiops("skab", "--train-rows", "0", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # not a terminal: no progress bar
        assert done.stdout.startswith("SKAB outlier problem, 1 files")
        assert any(line.startswith("ensemble") for line in done.stdout.splitlines())
