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

from aiops.detectors.core.errors import AiopsError, ConfigError
from aiops.detectors.core.progress import progress_bar
from aiops.detectors.evaluation.datasets import DATA_DIR_ENV

if TYPE_CHECKING:
    from aiops.detectors.config import DetectionConfig


#: Where ``--data`` is looked for when not given.
SKAB_DEFAULT = f"default: ${DATA_DIR_ENV}/skab if set, else ./data/skab or ../shared/data/skab"


BACKTEST_DESCRIPTION = """\
Score CSV files strictly online, each row before it is learned from, by the engine the pipeline runs,
then measure the flags against the files' labels (point-wise and per event, NAB scores with windows)."""

BACKTEST_EPILOG = """\
input columns (a header row; separator ',' ';' tab or '|', guessed from the header unless --sep):
  timestamp     one of timestamp, datetime, time: Unix seconds or ISO 8601 (no zone: UTC);
                rows are scored in time order
  features      every other column, numbers (empty, nan, null: missing); one column is a
                univariate series (timestamp,value), several are scored together as one
                multivariate series (e.g. SKAB's eight sensors)
  labels        anomaly, label, is_anomaly or changepoint (or the column --label-column names):
                a number > 0 marks an anomalous row; never scored, only used to measure

labels file (--nab-labels), NAB's combined_windows.json: an object of relative file path ->
  list of [start, end] windows, times as in NAB ("2015-09-17 10:00:00.000000") or ISO 8601:
    {"realKnownCause/machine_temperature_system_failure.csv":
        [["2013-12-10 06:25:00.000000", "2013-12-12 05:35:00.000000"]]}
  a file it lists is judged by its windows (its label column is ignored); other files by
  their label column, else for false alarms only

output, in --output-dir, per input file:
  NAME.scores.csv  one row per input row, in time order:
    timestamp      the row's time as the input file wrote it (joins back to the data and windows)
    anomaly_score  the row's surprise given the past, in [0, 1) (what NAB's scorer thresholds)
    is_anomaly     1 when the row is inside an anomaly episode
    alert          1 on the row where an episode opens (what pages a person)
    episode        the episode the row belongs to (0: none)
    time           the row's time in ISO 8601 UTC
  NAME.png         the series, its flags and labels (unless --no-plot)
  printed: precision, recall, F1, false and missed alarm rates, events found, delays, NAB scores

example:
  aiops backtest data/valve1/*.csv --output-dir out/ --train data/anomaly-free/anomaly-free.csv
  aiops backtest realKnownCause/*.csv --nab-labels labels/combined_windows.json --output-dir out/ --sweep"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``backtest``, ``skab``, ``bench-detectors``, ``quality`` and ``ablation`` subcommands."""
    p = sub.add_parser("backtest", help="score CSV files strictly online and measure against their labels",
                       description=BACKTEST_DESCRIPTION, epilog=BACKTEST_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--config", type=Path, help="YAML/JSON file: a whole configuration or its 'detection' section")
    p.add_argument("--label-column", help="the column of labelled rows (default: anomaly, label, is_anomaly, ...)")
    p.add_argument("--nab-labels", type=Path, metavar="JSON",
                   help="NAB windows (combined_windows.json: relative path -> [[start, end], ...]); "
                        "files it lists are judged by its windows instead of a label column")
    p.add_argument("--sep", default="auto", help="field separator (auto: guessed from the header)")
    p.add_argument("--sweep", action="store_true",
                   help="print precision/recall/F1 (and NAB's scores) over thresholds spanning the anomaly score")
    p.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--train", type=Path, help="a file of normal data fed (and learned) before each file")
    p.set_defaults(func=backtest_command)

    s = sub.add_parser("skab", help="evaluate the default configuration on the SKAB benchmark")
    s.add_argument("--data", type=Path, default=None,
                   help=f"SKAB data folder (valve1/, valve2/, other/; {SKAB_DEFAULT})")
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
    q.add_argument("--data", type=Path, default=None, help=f"SKAB data folder of the SKAB line ({SKAB_DEFAULT})")
    q.add_argument("--family", nargs="+", metavar="NAME", help="score only these scenario families")
    q.add_argument("--seed", type=int, default=0, help="seed of the scenario families")
    q.set_defaults(func=quality_command)

    a = sub.add_parser("ablation", help="the default with each detector removed in turn, and without the episode "
                                        "gate: families, SKAB F1, points/s (a few minutes)")
    a.add_argument("--config", type=Path)
    a.add_argument("--only", nargs="+", metavar="VARIANT",
                   help="run only these variants (as the table names them, e.g. default 'no hst' '+ lstm_ae')")
    a.set_defaults(func=ablation_command)


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
    import numpy as np

    from aiops.detectors.evaluation.backtest import (
        file_labels,
        format_events,
        format_summary,
        median_step,
        read_csv,
        run_backtests,
        summarise,
        sweep_table,
        sweep_thresholds,
        write_scores,
    )
    from aiops.detectors.evaluation.metrics import BinaryMetrics, EventMetrics, event_metrics
    from aiops.detectors.evaluation.nab import (
        PROFILES,
        format_nab,
        nab_corpus,
        nab_file,
        probationary_length,
        read_windows_file,
        sweep,
    )

    _quiet_logs()
    try:
        config = load_detection_config(args.config)
        table = read_windows_file(args.nab_labels) if args.nab_labels else None
        frames = [read_csv(f, sep=args.sep, label_column=args.label_column) for f in args.files]
        labels = [file_labels(path, frame, table) for path, frame in zip(args.files, frames)]
        train = read_csv(args.train, sep=args.sep, label_column=args.label_column) if args.train else None
        args.output_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        total = sum(len(f.times) for f in frames) + (len(train.times) * len(frames) if train else 0)
        with progress_bar("backtest", total) as bar:
            runs = run_backtests(frames, config, train=train, progress=bar.advance)
        elapsed = time.perf_counter() - start
    except (AiopsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = sum(len(f.times) for f in frames)
    print(f"scored {rows} rows of {len(frames)} file(s) in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)"
          + (f"; trained on {len(train.times)} rows of {args.train} first" if train else ""))
    if table is not None:
        unlisted = [str(p) for p, lab in zip(args.files, labels) if not lab.source.startswith("labels file")]
        if unlisted:
            print(f"not in {args.nab_labels} (label column or false alarms only): {', '.join(unlisted)}")
    start = time.perf_counter()
    scored = [(i, nab_file(str(args.files[i]), runs[i].anomaly_score, lab.windows))
              for i, lab in enumerate(labels) if lab.windows is not None]
    nab = nab_corpus([f for _, f in scored]) if scored else None
    nab_elapsed = time.perf_counter() - start
    nab_of = dict(scored)
    standard = PROFILES["standard"]
    thresholds = sweep_thresholds(np.concatenate([r.anomaly_score for r in runs])) if args.sweep else None
    points, events, labelled = BinaryMetrics(0, 0, 0, 0), EventMetrics(0, 0, (), 0, 0), False
    for i, (path, run, lab) in enumerate(zip(args.files, runs, labels)):
        out = args.output_dir / f"{Path(path).stem}.scores.csv"
        if out.exists() and any(Path(p).stem == Path(path).stem for p in args.files if p != path):
            out = args.output_dir / f"{Path(path).parent.name}_{Path(path).stem}.scores.csv"
        write_scores(run, out)
        settle, step = probationary_length(len(run.flagged)), median_step(run.frame.times)
        if args.plot:
            from aiops.detectors.evaluation.plot import plot_run

            plot_run(run, out.with_suffix("").with_suffix(".png"), labels=lab.mask, probation=settle,
                     threshold=None if nab is None else nab["standard"].threshold)
        if lab.mask is None:
            print(f"{path}: {int(run.flagged.sum())} of {len(run.flagged)} rows flagged (no labels)")
            file_events = event_metrics(np.zeros(len(run.flagged), dtype=bool), run.alert, settle=settle)
            print(format_events(str(path), file_events, step))
        else:
            labelled = True
            summary = summarise(lab.mask, run.flagged, run.alert, settle=settle)
            assert summary.events is not None
            points, file_events = points + summary.metrics, summary.events
            print(format_summary(str(path), summary, step))
        events = events + file_events
        if nab is not None and i in nab_of:
            at = sweep([nab_of[i]], np.array([nab["standard"].threshold]))
            text = (f"{at.normalised(standard)[0]:.1f}" if at.windows else "n/a (no window)")
            print(f"{path}: NAB standard at the corpus threshold={text} "
                  f"(windows found {at.found[0]}/{at.windows}, false positive rows {at.fp_rows[0]})")
        if args.sweep and lab.mask is not None:
            own = sweep([nab_of[i]], thresholds) if i in nab_of and nab_of[i].records else None
            print(sweep_table(lab.mask, run.anomaly_score, thresholds, nab=own))
    if len(runs) > 1:
        if labelled:
            print(f"all files: precision={points.precision:.3f} recall={points.recall:.3f} F1={points.f1:.3f} "
                  f"FAR={points.far:.2f}% MAR={points.mar:.2f}%")
        print(format_events("all files", events))
    if nab is not None:
        print(format_nab(nab, len(scored)))
        print(f"(NAB scoring of {sum(f.rows for _, f in scored):,} rows took {nab_elapsed:.2f} s)")
    if args.sweep and labelled and len(runs) > 1:
        marked = [i for i, lab in enumerate(labels) if lab.mask is not None]
        mask = np.concatenate([labels[i].mask for i in marked])  # type: ignore[misc]
        scores = np.concatenate([runs[i].anomaly_score for i in marked])
        at = sweep([f for _, f in scored], thresholds) if scored else None
        print("all files:\n" + sweep_table(mask, scores, thresholds, nab=at))
    print("event figures leave out each file's first 15% (at most 750 rows), as NAB does")
    print(f"outputs in {args.output_dir}")
    return 0


def skab_command(args: argparse.Namespace) -> int:
    from aiops.detectors.evaluation.datasets import SKAB
    from aiops.detectors.evaluation.skab import LEADERBOARD_TRAIN_ROWS, format_results, labelled_files, run_skab

    _quiet_logs()
    try:
        data = SKAB.locate(args.data)
        config = load_detection_config(args.config)
        for rows in args.train_rows if args.train_rows is not None else [LEADERBOARD_TRAIN_ROWS, 0]:
            start = time.perf_counter()
            with progress_bar(f"SKAB, {rows} training rows") as bar:
                results = run_skab(data, config, train_rows=rows, progress=bar.advance, on_total=bar.set_total)
            print(format_results(results, len(labelled_files(data)), rows))
            print(f"({time.perf_counter() - start:.1f} s)\n")
    except (AiopsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from aiops.detectors.evaluation.bench import bench_steady, bench_throughput

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
    from aiops.detectors.evaluation.datasets import SKAB
    from aiops.detectors.evaluation.quality import format_families, format_report, measure, measure_families, skab_line

    _quiet_logs()
    try:
        config = load_detection_config(args.config)
        if args.family is None:
            with progress_bar("clean and faulty series", unit="points") as bar:
                report = measure(config, progress=bar.advance, on_total=bar.set_total)
            print(format_report(report))
            print()
        with progress_bar("scenario families", unit="points") as bar:
            families = measure_families(config, seed=args.seed, names=args.family, progress=bar.advance,
                                        on_total=bar.set_total)
        print(format_families(families))
        if not args.no_skab:
            data = SKAB.locate(args.data) if args.data else SKAB.find()
            with progress_bar("SKAB") as bar:
                line = skab_line(config, data=data, progress=bar.advance, on_total=bar.set_total)
            print(line)
    except (AiopsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def ablation_command(args: argparse.Namespace) -> int:
    from aiops.detectors.evaluation.ablation import main as ablation_main

    _quiet_logs()
    try:
        return ablation_main(load_detection_config(args.config), args.only)
    except (AiopsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m aiops.detectors.evaluation.cli backtest ...``."""
    parser = argparse.ArgumentParser(prog="aiops-detectors")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
