"""Command-line tools of the detection layer: backtest, skab, bench-detectors, quality.

Wired into the main CLI by ``register(subparsers)``; each handler returns the
exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from aiops.pipeline.errors import AiopsError, ConfigError

if TYPE_CHECKING:
    from aiops.detectors.config import DetectionConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``backtest``, ``skab``, ``bench-detectors`` and ``quality`` subcommands."""
    p = sub.add_parser("backtest", help="score CSV files strictly online and measure against their labels")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--config", type=Path, help="YAML/JSON file: a whole configuration or its 'detection' section")
    p.add_argument("--label-column")
    p.add_argument("--sep", default="auto", help="field separator (auto: guessed from the header)")
    p.add_argument("--sweep", action="store_true", help="print precision/recall/F1 over thresholds")
    p.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--train", type=Path, help="a file of normal data fed (and learned) before each file")
    p.set_defaults(func=backtest_command)

    s = sub.add_parser("skab", help="evaluate the default configuration on the SKAB benchmark")
    s.add_argument("--data", type=Path, default=None, help="SKAB data folder (valve1/, valve2/, other/)")
    s.add_argument("--config", type=Path)
    s.add_argument("--train-rows", type=int, nargs="+", default=None,
                   help="rows at the start of each file used as training (default: 400 as the leaderboard, then 0)")
    s.set_defaults(func=skab_command)

    b = sub.add_parser("bench-detectors", help="points/s and state bytes of the default detection stack")
    b.add_argument("--series", type=int, nargs="+", default=[1, 1000])
    b.add_argument("--points", type=int, default=100_000)
    b.add_argument("--config", type=Path)
    b.add_argument("--steady", action="store_true", help="also time the steady state (every ring full)")
    b.set_defaults(func=bench_command)

    q = sub.add_parser("quality", help="false alarms on clean synthetic series, detection of injected faults, "
                                       "the scenario family table, SKAB")
    q.add_argument("--config", type=Path)
    q.add_argument("--no-skab", action="store_true", help="skip the SKAB summary line")
    q.add_argument("--family", nargs="+", metavar="NAME", help="score only these scenario families")
    q.add_argument("--seed", type=int, default=0, help="seed of the scenario families")
    q.set_defaults(func=quality_command)


def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def load_detection_config(path: Path | None) -> DetectionConfig:
    """A detection configuration from a file holding either the whole settings or just the section."""
    from pydantic import ValidationError

    from aiops.detectors.config import DetectionConfig, describe_problems

    if path is None:
        return DetectionConfig()
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read configuration {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: configuration must be a mapping")
    section = data["detection"] if "detection" in data else data
    try:
        return DetectionConfig.model_validate(section)
    except ValidationError as exc:
        lines = describe_problems(exc, "detection")
        raise ConfigError(f"{path}: invalid configuration:\n" + "\n".join(lines)) from None


def backtest_command(args: argparse.Namespace) -> int:
    from aiops.detectors.backtest import (format_summary, median_step, read_csv, run_backtests, summarise,
                                          sweep_table, write_scores)
    from aiops.detectors.metrics import BinaryMetrics

    _quiet_logs()
    try:
        config = load_detection_config(args.config)
        frames = [read_csv(f, sep=args.sep, label_column=args.label_column) for f in args.files]
        train = read_csv(args.train, sep=args.sep, label_column=args.label_column) if args.train else None
        args.output_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        runs = run_backtests(frames, config, train=train)
        elapsed = time.perf_counter() - start
    except (AiopsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = sum(len(f.times) for f in frames)
    print(f"scored {rows} rows of {len(frames)} file(s) in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)"
          + (f"; trained on {len(train.times)} rows of {args.train} first" if train else ""))
    total = BinaryMetrics(0, 0, 0, 0)
    labelled = False
    for path, run in zip(args.files, runs):
        out = args.output_dir / f"{Path(path).stem}.scores.csv"
        if out.exists() and any(Path(p).stem == Path(path).stem for p in args.files if p != path):
            out = args.output_dir / f"{Path(path).parent.name}_{Path(path).stem}.scores.csv"
        write_scores(run, out)
        if args.plot:
            from aiops.detectors.plot import plot_run

            plot_run(run, out.with_suffix("").with_suffix(".png"))
        if run.frame.labels is None:
            print(f"{path}: {int(run.flagged.sum())} of {len(run.flagged)} rows flagged (no labels)")
            continue
        labelled = True
        summary = summarise(run.frame.labels, run.flagged)
        total = total + summary.metrics
        print(format_summary(str(path), summary, median_step(run.frame.times)))
        if args.sweep:
            print(sweep_table(run.frame.labels, run.score))
    if labelled and len(runs) > 1:
        print(f"all files: precision={total.precision:.3f} recall={total.recall:.3f} F1={total.f1:.3f} "
              f"FAR={total.far:.2f}% MAR={total.mar:.2f}%")
        if args.sweep:
            import numpy as np

            labels = np.concatenate([r.frame.labels for r in runs if r.frame.labels is not None])
            scores = np.concatenate([r.score for r in runs if r.frame.labels is not None])
            print("all files:\n" + sweep_table(labels, scores))
    print(f"outputs in {args.output_dir}")
    return 0


def skab_command(args: argparse.Namespace) -> int:
    from aiops.detectors.skab import DEFAULT_DATA, LEADERBOARD_TRAIN_ROWS, format_results, labelled_files, run_skab

    _quiet_logs()
    data = args.data or DEFAULT_DATA
    try:
        config = load_detection_config(args.config)
        for rows in args.train_rows if args.train_rows is not None else [LEADERBOARD_TRAIN_ROWS, 0]:
            start = time.perf_counter()
            results = run_skab(data, config, train_rows=rows)
            print(format_results(results, len(labelled_files(data)), rows))
            print(f"({time.perf_counter() - start:.1f} s)\n")
    except (AiopsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from aiops.detectors.bench import bench_steady, bench_throughput

    _quiet_logs()
    try:
        config = load_detection_config(args.config)
    except AiopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for n in args.series:
        via_events, via_arrays, state = bench_throughput(n, args.points, config)
        print(f"{n:>6} series: {via_events:>10,.0f} points/s through process(), "
              f"{via_arrays:>10,.0f} points/s array path; state {state:,} bytes per univariate series")
        if args.steady:
            rate, share = bench_steady(n, steps=100 if n >= 100 else 2000, warm_steps=max(600, 1000 // n),
                                       config=config)
            print(f"{n:>6} series, rings full: {rate:>10,.0f} points/s through process(), "
                  f"{share:.0%} of it in the array step")
    return 0


def quality_command(args: argparse.Namespace) -> int:
    from aiops.detectors.quality import format_families, format_report, measure, measure_families, skab_line

    _quiet_logs()
    try:
        config = load_detection_config(args.config)
        if args.family is None:
            print(format_report(measure(config)))
            print()
        print(format_families(measure_families(config, seed=args.seed, names=args.family)))
        if not args.no_skab:
            print(skab_line(config))
    except (AiopsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m aiops.detectors.cli backtest ...``."""
    parser = argparse.ArgumentParser(prog="aiops-detectors")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
