"""The SKAB benchmark, outlier problem: every labelled file scored online by the default configuration.

Metrics follow the leaderboard: point-wise F1, false alarm rate and missed
alarm rate (percent) over the rows of all files together. Each file starts
from an empty model and nothing is fitted on other files. Training is done
as the leaderboard's models do it: the first ``train_rows`` rows of each file
(400 by default, all normal) are learned unconditionally and never flagged,
i.e. the warm-up is stretched over them; every row, these included, is
scored and counted. ``train_rows=0`` gives the purely online figures (the
default warm-up only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from aiops.detectors.config import DetectionConfig, DetectorSpec
from aiops.detectors.evaluation.backtest import Frame, read_csv, run_backtests
from aiops.detectors.evaluation.metrics import BinaryMetrics, binary_metrics, nab_score


@dataclass(frozen=True)
class SkabResult:
    name: str
    metrics: BinaryMetrics
    nab: float


def labelled_files(data: Path) -> list[Path]:
    """The 34 experiment files (valve1, valve2, other), not the anomaly-free one."""
    files = sorted(p for sub in ("valve1", "valve2", "other") for p in (data / sub).glob("*.csv"))
    return files


def evaluate(frames: list[Frame], config: DetectionConfig, name: str, *,
             progress: Callable[[int], None] | None = None) -> SkabResult:
    runs = run_backtests(frames, config, progress=progress)
    total = BinaryMetrics(0, 0, 0, 0)
    nabs = []
    for run in runs:
        assert run.frame.labels is not None
        total = total + binary_metrics(run.frame.labels, run.flagged)
        nabs.append(nab_score(run.frame.labels, run.flagged))
    return SkabResult(name, total, sum(nabs) / len(nabs))


def single_detector_configs(config: DetectionConfig) -> list[tuple[str, DetectionConfig]]:
    """The configuration with one detector at a time (same thresholds, warm-up, calibration)."""
    out = []
    for spec in config.detectors:
        solo = config.model_copy(update={"detectors": [DetectorSpec(type=spec.type, name=spec.name,
                                                                    params=spec.params)]})
        out.append((spec.key, solo))
    return out


LEADERBOARD_TRAIN_ROWS = 400


def run_skab(data: Path, config: DetectionConfig | None = None, *, train_rows: int = LEADERBOARD_TRAIN_ROWS,
             progress: Callable[[int], None] | None = None,
             on_total: Callable[[int], None] | None = None) -> list[SkabResult]:
    """Each detector alone, then the ensemble, over every labelled file.

    ``on_total(n)`` is told the rows to score once the files are read, ``progress(n)`` the rows scored.
    """
    config = config or DetectionConfig()
    config = config.model_copy(update={"warmup": max(config.warmup, train_rows)})
    files = labelled_files(data)
    if not files:
        raise FileNotFoundError(f"no SKAB files under {data} (expected valve1/, valve2/, other/)")
    frames = [read_csv(p) for p in files]
    for frame, path in zip(frames, files):
        frame.name = f"{path.parent.name}/{path.stem}"
    configs = single_detector_configs(config)
    if on_total is not None:
        on_total(sum(len(f.times) for f in frames) * (len(configs) + 1))
    results = [evaluate(frames, cfg, name, progress=progress) for name, cfg in configs]
    results.append(evaluate(frames, config, "ensemble", progress=progress))
    return results


def format_results(results: list[SkabResult], n_files: int, train_rows: int) -> str:
    training = (f"training: the first {train_rows} rows of each file, learned unconditionally and never flagged"
                if train_rows else "no training: online from the first row (default warm-up only)")
    lines = [f"SKAB outlier problem, {n_files} files, scored strictly online; {training}",
             f"{'detector':<16}{'F1':>7}{'FAR %':>9}{'MAR %':>9}{'NAB':>8}"]
    for r in results:
        m = r.metrics
        lines.append(f"{r.name:<16}{m.f1:7.3f}{m.far:9.2f}{m.mar:9.2f}{r.nab:8.1f}")
    return "\n".join(lines)
