"""Ablation: the default configuration with each detector removed in turn, and without the episode gate.

For each variant: the scenario families within their bounds, their
false-alarm episodes per 10k clean points and event recall added up, SKAB's
point-wise F1 (first 400 rows trained, and purely online) and the engine's
points/s for 1,000 univariate series. Run as ``aiops ablation`` (it takes a
few minutes: every variant scores every family and SKAB twice).

>>> [name for name, _ in variants(DetectionConfig())][:3]
['default', 'no zscore', 'no cusum']
>>> dict(variants(DetectionConfig()))["no episode gate"].episodes.open_surprise
0.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiops.detectors.bench import bench_throughput
from aiops.detectors.config import DetectionConfig
from aiops.detectors.metrics import EventMetrics


@dataclass(frozen=True)
class AblationRow:
    name: str
    families_held: int
    families: int
    events: EventMetrics
    skab_trained: float
    skab_online: float
    points_per_s: float


def variants(config: DetectionConfig) -> list[tuple[str, DetectionConfig]]:
    """The default, each detector removed in turn, and episodes opened by any flag (the surprise track ignored)."""
    out = [("default", config)]
    for spec in config.detectors:
        rest = [d for d in config.detectors if d.key != spec.key]
        if rest:
            out.append((f"no {spec.key}", config.model_copy(update={"detectors": rest})))
    ungated = config.episodes.model_copy(update={"open_surprise": 0.0, "strong_surprise": float("inf")})
    out.append(("no episode gate", config.model_copy(update={"episodes": ungated})))
    return out


def measure_variant(name: str, config: DetectionConfig, *, bench_points: int = 100_000) -> AblationRow:
    from aiops.detectors.backtest import read_csv
    from aiops.detectors.quality import measure_families
    from aiops.detectors.skab import LEADERBOARD_TRAIN_ROWS, evaluate, labelled_files
    from aiops.pipeline.datasets import SKAB

    report = measure_families(config)
    events = EventMetrics(0, 0, (), 0, 0)
    for r in report.results:
        events = events + r.events
    data = SKAB.find()
    files = labelled_files(data) if data is not None else []
    frames = [read_csv(p) for p in files]
    f1 = []
    for rows in (LEADERBOARD_TRAIN_ROWS, 0):
        if not frames:
            f1.append(float("nan"))
            continue
        trained = config.model_copy(update={"warmup": max(config.warmup, rows)})
        f1.append(evaluate(frames, trained, name).metrics.f1)
    rate, _, _ = bench_throughput(1000, bench_points, config)
    return AblationRow(name, sum(r.holds for r in report.results), len(report.results), events, f1[0], f1[1], rate)


def format_rows(rows: list[AblationRow]) -> str:
    lines = [f"{'variant':<18}{'families':>9}{'false/10k':>10}{'recall':>7}{'SKAB trained':>13}{'SKAB online':>12}"
             f"{'points/s':>10}"]
    for r in rows:
        lines.append(f"{r.name:<18}{f'{r.families_held}/{r.families}':>9}{r.events.false_per_10k:>10.2f}"
                     f"{r.events.recall:>7.2f}{r.skab_trained:>13.3f}{r.skab_online:>12.3f}{r.points_per_s:>10,.0f}")
    return "\n".join(lines)


def main(config: DetectionConfig | None = None) -> int:
    start = time.perf_counter()
    rows: list[AblationRow] = []
    print(format_rows(rows), flush=True)
    for name, cfg in variants(config or DetectionConfig()):
        rows.append(measure_variant(name, cfg))
        print(format_rows(rows).splitlines()[-1], flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0
