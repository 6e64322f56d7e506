"""Grouping accuracy of template mining against loghub's labelled samples.

A line counts as correct when the set of lines in its predicted group equals
exactly the set of lines of its true group (the standard measure of the log
parsing benchmarks).

>>> grouping_accuracy(["a", "a", "b", "c"], [1, 1, 2, 2])
0.5
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Sequence

from aiops.detectors.core.errors import InputError
from aiops.detectors.logs.templates import TemplateMiners
from aiops.detectors.logs.templates_config import MiningConfig

LOGHUB_SYSTEMS = (
    "HDFS", "Hadoop", "Spark", "Zookeeper", "BGL", "HPC", "Thunderbird", "Windows",
    "Linux", "Android", "HealthApp", "Apache", "Proxifier", "OpenSSH", "OpenStack", "Mac",
)


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group is exactly their true group."""
    if len(truth) != len(predicted):
        raise InputError("truth and prediction differ in length")
    if not truth:
        return 0.0
    true_groups: dict[Hashable, set[int]] = defaultdict(set)
    pred_groups: dict[Hashable, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted)):
        true_groups[t].add(i)
        pred_groups[p].add(i)
    correct = sum(len(members) for members in pred_groups.values() if members == true_groups[truth[next(iter(members))]])
    return correct / len(truth)


@dataclass(slots=True, frozen=True)
class SystemAccuracy:
    system: str
    lines: int
    true_templates: int
    found_templates: int
    accuracy: float


def structured_rows(data_dir: Path, system: str, *, errors: str = "strict") -> tuple[Path, list[dict[str, str]]]:
    """The path and rows of loghub's ``<system>/<system>_2k.log_structured_corrected.csv``.

    ``errors``: how bytes that are not UTF-8 are decoded (``str.decode``'s argument).
    """
    path = Path(data_dir) / system / f"{system}_2k.log_structured_corrected.csv"
    try:
        with path.open(newline="", encoding="utf-8", errors=errors) as fh:
            return path, list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def load_structured(data_dir: Path, system: str) -> tuple[list[str], list[str]]:
    """Contents and true event ids of ``<system>_2k.log_structured_corrected.csv``."""
    path, rows = structured_rows(data_dir, system)
    if not rows or "Content" not in rows[0] or "EventId" not in rows[0]:
        raise InputError(f"{path} has no Content/EventId columns")
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


def system_accuracy(data_dir: Path, system: str, config: MiningConfig) -> SystemAccuracy:
    """Mine one system's sample with its own miner (the system name is the source key)."""
    contents, truth = load_structured(data_dir, system)
    miners = TemplateMiners(config)
    predicted = [miners.add(system, c).cluster_id for c in contents]
    return SystemAccuracy(
        system=system,
        lines=len(contents),
        true_templates=len(set(truth)),
        found_templates=len(set(predicted)),
        accuracy=grouping_accuracy(truth, predicted),
    )
