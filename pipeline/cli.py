"""``aiops``: one entry point, with a subcommand per job.

    aiops demo                       embedded broker + worker + generated traffic, alerts on the console
    aiops worker --config FILE       the production worker against any Kafka
    aiops generate ...               synthetic fleet traffic with injected anomalies and ground truth
    aiops backtest FILE...           the detector stack, strictly online, over CSV files
    aiops config validate FILE       check a configuration file
    aiops config reference           every configuration key, as Markdown
    aiops bench pipeline             end-to-end throughput and latency through a real broker
    aiops bench memory               worker RSS per tracked series, measured in the worker
    aiops bench restore              seconds a worker takes to restore the state of N series
    aiops --version                  the installed version

Each subsystem adds its own subcommands through a ``register(subparsers)``
function listed in ``SUBCOMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from importlib import metadata

from aiops.detectors.core.errors import AiopsError, ConfigError
from aiops.pipeline.logsetup import configure_logging

#: Modules whose ``register(subparsers)`` add subcommands.
SUBCOMMAND_MODULES = (
    "aiops.pipeline.tools.generator.cli",
    "aiops.detectors.evaluation.cli",
    "aiops.models.cli",
    "aiops.detectors.evaluation.logs_cli",
    "aiops.alerting.cli",
)


def version() -> str:
    """The installed distribution's version."""
    try:
        return metadata.version("aiops-pipeline")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiops", description="Streaming anomaly detection for logs and metrics.")
    parser.add_argument("--version", action="version", version=f"aiops {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("worker", help="run the pipeline worker against a Kafka cluster")
    p.add_argument("--config", "-c", help="configuration file (YAML or JSON); defaults for anything left out")
    p.add_argument("--no-create-topics", action="store_true", help="do not create missing topics at start")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="embedded broker, worker and generated traffic; alerts on the console")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of live traffic (default 120)")
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--services", type=int, default=3)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--config", "-c", help="configuration overriding the demo defaults")
    p.add_argument("--out", default="var/demo", help="where the demo writes truth, anomalies and logs")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    v = csub.add_parser("validate", help="validate a configuration file; exit 1 naming each bad key")
    v.add_argument("file")
    v.add_argument("--show", action="store_true", help="print the effective configuration (secrets redacted)")
    v.set_defaults(func=cmd_config_validate)
    r = csub.add_parser("reference", help="every configuration key as Markdown: type, default, meaning")
    r.add_argument("--out", help="write it to this file (default: standard output)")
    r.set_defaults(func=cmd_config_reference)

    p = sub.add_parser("bench", help="benchmarks that print figures")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="TARGET")
    b = bsub.add_parser("pipeline", help="sustained events/s, latency at half load and RSS through a real broker "
                                         "and 1 and 2 workers")
    b.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run (default 1 2)")
    b.add_argument("--points", type=int, default=600_000, help="points to send in the throughput phase")
    b.add_argument("--series", type=int, default=1000)
    b.add_argument("--per-message", type=int, default=200, help="points per Kafka message")
    b.add_argument("--partitions", type=int, default=2, help="partitions of the bench's topics")
    b.add_argument("--warm-steps", type=int, default=120, help="points per series before the throughput phase")
    b.add_argument("--latency-seconds", type=float, default=20.0, help="seconds of paced traffic for the latency")
    b.add_argument("--latency-rate", type=float, nargs="+", metavar="POINTS_PER_S",
                   help="measure the latency at these rates, all workers together (default: half the sustained rate)")
    b.add_argument("--bootstrap", help="use this broker instead of starting the embedded one")
    b.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="a setting of the workers' configuration, e.g. worker.inline_score_max_events=0 (repeatable)")
    b.set_defaults(func=cmd_bench_pipeline)
    m = bsub.add_parser("memory", help="worker RSS per tracked series, read from the worker process")
    m.add_argument("--series", type=int, default=100_000)
    m.add_argument("--steps", type=int, default=3, help="points per series")
    m.add_argument("--more-series", type=int, default=0,
                   help="then this many new series: what each further series costs once the caches are full")
    m.add_argument("--per-message", type=int, default=2000, help="points per Kafka message")
    m.add_argument("--snapshot-interval", type=float, default=10.0, help="seconds between state snapshots")
    m.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the scoring and the snapshot")
    m.add_argument("--bootstrap", help="use this broker instead of starting the embedded one")
    m.set_defaults(func=cmd_bench_memory)
    r = bsub.add_parser("restore", help="seconds a worker takes to restore the state of N series, its own figures")
    r.add_argument("--series", type=int, default=100_000)
    r.add_argument("--steps", type=int, default=600, help="points the template series had before their state")
    r.add_argument("--partitions", type=int, default=2, help="partitions of the bench's topics")
    r.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the worker to be ready")
    r.add_argument("--bootstrap", help="use this broker instead of starting the embedded one")
    r.set_defaults(func=cmd_bench_restore)

    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency: say so
                raise
            continue  # an optional part not installed
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("info", "console")  # to stderr, times in ISO 8601 UTC; a command may narrow it
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"aiops: configuration error: {exc}", file=sys.stderr)
        return 2
    except AiopsError as exc:
        print(f"aiops: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`aiops ... | head`): stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
        return 128 + signal.SIGPIPE


def cmd_config_validate(args: argparse.Namespace) -> int:
    from aiops.pipeline.config import load_settings

    try:
        settings = load_settings(args.file)
    except ConfigError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: valid (config hash {settings.digest()})")
    if args.show:
        print(json.dumps(settings.model_dump(mode="json"), indent=2))
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from aiops.pipeline.tools.config_reference import write_reference

    text = write_reference(args.out)
    if args.out is None:
        sys.stdout.write(text)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from aiops.pipeline.runner import run_worker

    return run_worker(args.config, create_topics=not args.no_create_topics)


def cmd_demo(args: argparse.Namespace) -> int:
    from aiops.pipeline.tools.demo import run_demo

    return run_demo(args)


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    from aiops.pipeline.tools.bench import run_pipeline_benchmark

    return run_pipeline_benchmark(args)


def cmd_bench_memory(args: argparse.Namespace) -> int:
    from aiops.pipeline.tools.bench_memory import run_memory_benchmark

    return run_memory_benchmark(args)


def cmd_bench_restore(args: argparse.Namespace) -> int:
    from aiops.pipeline.tools.bench_restore import run_restore_benchmark

    return run_restore_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
