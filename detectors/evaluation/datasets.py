"""Where the benchmark data sets are: a path given on the command line, else a few places looked in, in order.

1. ``$AIOPS_DATA_DIR/<name>`` (a folder holding ``skab/`` and ``loghub/``), and only there when set;
2. else ``./data/<name>`` in the current directory;
3. then ``../shared/data/<name>`` from the current directory, then beside the source checkout the
   package runs from, if it runs from one (where the project's development data sits).

No data set ships in the package: when none is found the error says what to
download and where to put it.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> (root / "skab" / "valve1").mkdir(parents=True)
>>> SKAB.locate(root / "skab") == root / "skab"
True
>>> SKAB.locate(None, environ={DATA_DIR_ENV: str(root)}, cwd=root / "elsewhere") == root / "skab"
True
>>> try:
...     SKAB.locate(root)
... except DataNotFound as exc:
...     print(str(exc).replace(str(root), "ROOT")[:93])
no SKAB data in ROOT (it holds none of valve1/, valve2/, other/): download the SKAB benchmark
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from aiops.detectors.core.errors import InputError

DATA_DIR_ENV = "AIOPS_DATA_DIR"


def source_checkout() -> Path | None:
    """The project's checkout when the package runs from one (an editable install), None from a wheel."""
    root = Path(__file__).resolve().parents[2]
    here = root / "detectors" / "evaluation" / "datasets.py"
    return root if (root / "pyproject.toml").is_file() and here.is_file() else None


CHECKOUT = source_checkout()


class DataNotFound(InputError):
    """A data set a command needs is not where it was told or looked; the message says how to get it."""


@dataclass(frozen=True)
class DataSet:
    """A data set the benchmarks read: how to recognise its folder and how to get it."""

    name: str  # its folder name under a data directory
    title: str
    marks: tuple[str, ...]  # sub-folders of which at least one is there
    download: str  # what to fetch, in a few words with the URL
    folder: str  # which folder of the download to point at

    def holds(self, path: Path) -> bool:
        """Whether ``path`` looks like this data set's folder."""
        return path.is_dir() and any((path / mark).is_dir() for mark in self.marks)

    def search_path(self, *, environ: Mapping[str, str] | None = None, cwd: Path | None = None,
                    checkout: Path | None = CHECKOUT) -> list[Path]:
        """The folders looked in when no path is given, in order."""
        environ = os.environ if environ is None else environ
        if environ.get(DATA_DIR_ENV):
            return [Path(environ[DATA_DIR_ENV]) / self.name]
        cwd = Path.cwd() if cwd is None else cwd
        places = [cwd / "data" / self.name, cwd.parent / "shared" / "data" / self.name]
        if checkout is not None:
            places.append(checkout.parent / "shared" / "data" / self.name)
        return list(dict.fromkeys(places))

    def locate(self, given: Path | None, *, environ: Mapping[str, str] | None = None,
               cwd: Path | None = None, checkout: Path | None = CHECKOUT) -> Path:
        """``given`` if it holds the data set, else the first folder of :meth:`search_path` that does.

        Raises :class:`DataNotFound`, one line: where it looked, what to download, where to put it.
        """
        if given is not None:
            if self.holds(Path(given)):
                return Path(given)
            raise DataNotFound(f"no {self.title} data in {given} (it holds none of "
                               f"{', '.join(m + '/' for m in self.marks)}): {self.how_to_get()}")
        places = self.search_path(environ=environ, cwd=cwd, checkout=checkout)
        for place in places:
            if self.holds(place):
                return place
        raise DataNotFound(f"no {self.title} data found (looked in {', '.join(map(str, places))}): "
                           f"{self.how_to_get()}")

    def find(self, given: Path | None = None) -> Path | None:
        """Like :meth:`locate`, None instead of an error (for optional figures)."""
        try:
            return self.locate(given)
        except DataNotFound:
            return None

    def how_to_get(self) -> str:
        return (f"download {self.download}, then pass its {self.folder} with --data DIR, or put it at "
                f"./data/{self.name}, or set {DATA_DIR_ENV} to a folder holding {self.name}/")


SKAB = DataSet("skab", "SKAB", ("valve1", "valve2", "other"),
               "the SKAB benchmark from https://github.com/waico/SKAB", "data/ folder")
LOGHUB = DataSet("loghub", "loghub", ("HDFS", "BGL", "OpenSSH", "Linux", "Apache"),
                 "the 2k log samples from https://github.com/logpai/loghub (the corrected ones of "
                 "https://github.com/logpai/logparser data/loghub_2k_corrected for 'aiops logs accuracy')",
                 "folder of <System>/ sub-folders")
