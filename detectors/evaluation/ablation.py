"""Ablation: the default configuration with each detector removed in turn, the LSTM autoencoder added, and no gate.

For each variant: the scenario families within their bounds, their
false-alarm episodes per 10k clean points and event recall added up, the
false-alarm episodes per 10k points of clean four-feature series (the
families are univariate), SKAB's point-wise F1 (first 400 rows trained, and
purely online), and the engine's points/s for 1,000 univariate series and for
250 four-feature series once every detector is warm. Run as ``aiops
ablation`` (it takes several minutes: every variant scores every family and
SKAB twice); ``python -m aiops.detectors.evaluation.ablation --only default "+ lstm_ae"``
runs some variants.

The autoencoder is measured as the default path would run it on multivariate
series (``LSTM_AE``), trained inline so that every run gives the same figures.
Series of one feature signature share its model: on SKAB, whose 34 files are
scored side by side, it trains on the normal windows of all of them up to the
same row (the other detectors keep each file to itself).

>>> [name for name, _ in variants(DetectionConfig())][:3]
['default', 'no zscore', 'no cusum']
>>> [name for name, _ in variants(DetectionConfig())][-2:]
['+ lstm_ae', 'no episode gate']
>>> dict(variants(DetectionConfig()))["no episode gate"].episodes.open_surprise
0.0
>>> [d.params["background"] for d in inline(dict(variants(DetectionConfig()))["+ lstm_ae"]).detectors[-1:]]
[False]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from aiops.detectors.config import DetectionConfig, DetectorSpec
from aiops.detectors.core.shapes import Event
from aiops.detectors.evaluation.bench import bench_throughput
from aiops.detectors.evaluation.metrics import EventMetrics

# the autoencoder as it would join the default: multivariate groups only (univariate series never build it),
# first trained once 400 normal windows are in (SKAB's 400 training rows), abstaining until then
LSTM_AE = DetectorSpec(type="lstm_ae", params={"min_features": 2, "min_train_windows": 400})
MULTI_FEATURES = ("a", "b", "c", "d")


@dataclass(frozen=True)
class AblationRow:
    name: str
    families_held: int
    families: int
    events: EventMetrics
    multi_false_per_10k: float
    skab_trained: float
    skab_online: float
    points_per_s: float
    multi_points_per_s: float


def variants(config: DetectionConfig) -> list[tuple[str, DetectionConfig]]:
    """The default, each detector removed in turn, the autoencoder added, episodes opened by any flag."""
    out = [("default", config)]
    for spec in config.detectors:
        rest = [d for d in config.detectors if d.key != spec.key]
        if rest:
            out.append((f"no {spec.key}", config.model_copy(update={"detectors": rest})))
    if not any(d.type == "lstm_ae" for d in config.detectors):
        out.append(("+ lstm_ae", config.model_copy(update={"detectors": [*config.detectors, LSTM_AE]})))
    ungated = config.episodes.model_copy(update={"open_surprise": 0.0, "strong_surprise": float("inf")})
    out.append(("no episode gate", config.model_copy(update={"episodes": ungated})))
    return out


def inline(config: DetectionConfig) -> DetectionConfig:
    """The configuration with every autoencoder trained inline and only when due by count: runs repeat exactly."""
    fixed = {"background": False, "refresh_seconds": None}

    def pin(specs: Sequence[DetectorSpec]) -> list[DetectorSpec]:
        return [s.model_copy(update={"params": {**s.params, **fixed}}) if s.type == "lstm_ae" else s for s in specs]

    profiles = [p.model_copy(update={"detectors": pin(p.detectors)}) if p.detectors else p for p in config.profiles]
    return config.model_copy(update={"detectors": pin(config.detectors), "profiles": profiles})


def multivariate_events(n_series: int, step: int, rng: np.random.Generator) -> list[Event]:
    """One step of ``n_series`` clean series of four correlated features (correlation 0.8)."""
    common = rng.normal(size=(n_series, 1))
    values = 50.0 + np.sqrt(0.8) * common + np.sqrt(0.2) * rng.normal(size=(n_series, len(MULTI_FEATURES)))
    return [Event("metric", f"bench|group={i}", {"group": str(i)}, float(step), dict(zip(MULTI_FEATURES, row)))
            for i, row in enumerate(values.tolist())]


def multivariate_throughput(config: DetectionConfig, *, n_series: int = 250, warm_steps: int = 600,
                            steps: int = 100) -> float:
    """Points/s through ``process`` for four-feature series once warm (rings full, autoencoders trained)."""
    from aiops.detectors.engine import build_engine

    engine = build_engine(inline(config))
    rng = np.random.default_rng(0)
    for k in range(warm_steps):
        engine.process(multivariate_events(n_series, k, rng))
    batches = [multivariate_events(n_series, warm_steps + k, rng) for k in range(steps)]
    start = time.perf_counter()
    for batch in batches:
        engine.process(batch)
    return n_series * steps / (time.perf_counter() - start)


def multivariate_false_alarms(config: DetectionConfig, *, n_series: int = 3, points: int = 20_000,
                              settle: int = 1_000) -> float:
    """False-alarm episodes per 10k points on clean four-feature series (after each one's first ``settle``)."""
    from aiops.detectors.engine import build_engine
    from aiops.detectors.evaluation.quality import correlated

    engine = build_engine(inline(config))
    rng = np.random.default_rng(0)
    items = [(f"clean|group={i}", np.arange(points, dtype=float), correlated(points, rng)) for i in range(n_series)]
    results = engine.score_many_series(items, list(MULTI_FEATURES))
    opened = sum(int(res.alert[settle:].sum()) for _, res in results)
    return 1e4 * opened / (n_series * (points - settle))


def measure_variant(name: str, config: DetectionConfig, *, bench_points: int = 100_000) -> AblationRow:
    from aiops.detectors.evaluation.backtest import read_csv
    from aiops.detectors.evaluation.datasets import SKAB
    from aiops.detectors.evaluation.quality import measure_families
    from aiops.detectors.evaluation.skab import LEADERBOARD_TRAIN_ROWS, evaluate, labelled_files

    config = inline(config)
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
    return AblationRow(name, sum(r.holds for r in report.results), len(report.results), events,
                       multivariate_false_alarms(config), f1[0], f1[1], rate, multivariate_throughput(config))


def format_rows(rows: list[AblationRow]) -> str:
    lines = [f"{'variant':<18}{'families':>9}{'false/10k':>10}{'recall':>7}{'4-feat false/10k':>17}"
             f"{'SKAB trained':>13}{'SKAB online':>12}{'points/s':>10}{'4-feat pts/s':>13}"]
    for r in rows:
        lines.append(f"{r.name:<18}{f'{r.families_held}/{r.families}':>9}{r.events.false_per_10k:>10.2f}"
                     f"{r.events.recall:>7.2f}{r.multi_false_per_10k:>17.2f}{r.skab_trained:>13.4f}"
                     f"{r.skab_online:>12.4f}{r.points_per_s:>10,.0f}{r.multi_points_per_s:>13,.0f}")
    return "\n".join(lines)


def main(config: DetectionConfig | None = None, only: Sequence[str] | None = None) -> int:
    """Print the table row by row; ``only``: the variants of these names (unknown names are an error)."""
    start = time.perf_counter()
    chosen = variants(config or DetectionConfig())
    if only:
        known = [name for name, _ in chosen]
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        chosen = [(name, cfg) for name, cfg in chosen if name in only]
    rows: list[AblationRow] = []
    print(format_rows(rows), flush=True)
    for name, cfg in chosen:
        rows.append(measure_variant(name, cfg))
        print(format_rows(rows).splitlines()[-1], flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from aiops.detectors.evaluation.cli import _quiet_logs, load_detection_config

    parser = argparse.ArgumentParser(prog="python -m aiops.detectors.evaluation.ablation", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="YAML/JSON file: a whole configuration or its 'detection' section")
    parser.add_argument("--only", nargs="+", metavar="VARIANT", help="run only these variants (e.g. default 'no hst')")
    args = parser.parse_args()
    _quiet_logs()
    try:
        sys.exit(main(load_detection_config(args.config), args.only))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
