"""The SKAB benchmark, outlier problem: every labelled file scored online by the default configuration.

Metrics follow the leaderboard: point-wise F1, false alarm rate and missed
alarm rate (percent) over the rows of all files together. Training is the
online learning itself: each file starts from an empty model, its first
(normal) rows are its warm-up, and nothing is fitted on other files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiops.detectors.backtest import Frame, read_csv, run_backtests
from aiops.detectors.config import DetectionConfig, DetectorSpec
from aiops.detectors.metrics import BinaryMetrics, binary_metrics, nab_score

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "skab"


@dataclass(frozen=True)
class SkabResult:
    name: str
    metrics: BinaryMetrics
    nab: float


def labelled_files(data: Path) -> list[Path]:
    """The 34 experiment files (valve1, valve2, other), not the anomaly-free one."""
    files = sorted(p for sub in ("valve1", "valve2", "other") for p in (data / sub).glob("*.csv"))
    return files


def evaluate(frames: list[Frame], config: DetectionConfig, name: str) -> SkabResult:
    runs = run_backtests(frames, config)
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


def run_skab(data: Path, config: DetectionConfig | None = None) -> list[SkabResult]:
    config = config or DetectionConfig()
    files = labelled_files(data)
    if not files:
        raise FileNotFoundError(f"no SKAB files under {data} (expected valve1/, valve2/, other/)")
    frames = [read_csv(p) for p in files]
    for frame, path in zip(frames, files):
        frame.name = f"{path.parent.name}/{path.stem}"
    results = [evaluate(frames, cfg, name) for name, cfg in single_detector_configs(config)]
    results.append(evaluate(frames, config, "ensemble"))
    return results


def format_results(results: list[SkabResult], n_files: int) -> str:
    lines = [f"SKAB outlier problem, {n_files} files, strictly online (each file learned from its own first "
             "rows; no offline training)",
             f"{'detector':<16}{'F1':>7}{'FAR %':>9}{'MAR %':>9}{'NAB':>8}"]
    for r in results:
        m = r.metrics
        lines.append(f"{r.name:<16}{m.f1:7.3f}{m.far:9.2f}{m.mar:9.2f}{r.nab:8.1f}")
    return "\n".join(lines)
