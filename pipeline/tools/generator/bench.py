"""Throughput of the traffic generator, printed as figures.

    python -m aiops.pipeline.tools.generator.bench                    # generation and encoding only
    python -m aiops.pipeline.tools.generator.bench --tansu            # also produce to a local Tansu broker
    python -m aiops.pipeline.tools.generator.bench --bootstrap HOST:PORT

History mode (as fast as possible) over ``--seconds`` of simulated time;
the figures are points, log lines, messages and bytes per wall-clock second
(fastest of ``--repeat`` runs; one process, one core).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from aiops.pipeline.tools.embedded_broker import EmbeddedBroker
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.produce import TrafficGenerator, _Sender, producer_config

START = 1_700_000_000.0


def measure_generation(config: GeneratorConfig, seconds: float) -> dict[str, float]:
    gen = TrafficGenerator(config)
    began = time.perf_counter()
    for _ in gen.history(START - seconds, START):
        pass
    return _rates(gen, time.perf_counter() - began)


def measure_produce(config: GeneratorConfig, seconds: float, bootstrap: str) -> dict[str, float]:
    from confluent_kafka import Producer

    gen = TrafficGenerator(config)
    sender = _Sender(Producer(producer_config(bootstrap)), gen.counts)
    began = time.perf_counter()
    for message in gen.history(START - seconds, START):
        sender.send(message)
    left = sender.producer.flush(60.0)
    rates = _rates(gen, time.perf_counter() - began)
    rates["undelivered"] = float(left + gen.counts.delivery_errors)
    return rates


def _rates(gen: TrafficGenerator, elapsed: float) -> dict[str, float]:
    c = gen.counts
    return {"elapsed_s": elapsed, "points_per_s": c.points / elapsed, "lines_per_s": c.log_lines / elapsed,
            "messages_per_s": c.messages / elapsed, "mb_per_s": c.bytes / elapsed / 1e6,
            "points": c.points, "log_lines": c.log_lines, "messages": c.messages}


def _start_tansu() -> EmbeddedBroker:
    broker = EmbeddedBroker().start()
    for topic in ("metrics.raw", "logs.raw"):
        broker.create_topic(topic, partitions=2)
    return broker


def _row(label: str, r: dict[str, Any]) -> str:
    return (f"{label:<28}{r['points_per_s']:>12,.0f}{r['lines_per_s']:>12,.0f}{r['messages_per_s']:>11,.0f}"
            f"{r['mb_per_s']:>8.1f}{r['elapsed_s']:>9.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiops.pipeline.tools.generator.bench", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=600.0, help="simulated seconds of history per run")
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--services", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest is shown")
    p.add_argument("--bootstrap", help="also produce to this broker")
    p.add_argument("--tansu", action="store_true", help="start a local Tansu broker and produce to it")
    args = p.parse_args(argv)
    base = {"hosts": args.hosts, "services": args.services, "seed": 1, "period_s": 600.0}
    cases = {
        "line protocol + JSON logs": GeneratorConfig(metric_format="influx", log_format="json", **base),
        "Telegraf JSON + syslog": GeneratorConfig(metric_format="json", log_format="syslog", **base),
        "mixed": GeneratorConfig(metric_format="mixed", log_format="mixed", **base),
    }
    print(f"{args.hosts} hosts x {args.services} services, {args.seconds:.0f} s of history per run")
    print(f"{'generate + encode':<28}{'points/s':>12}{'lines/s':>12}{'msgs/s':>11}{'MB/s':>8}{'wall s':>9}")
    for label, config in cases.items():
        runs = [measure_generation(config, args.seconds) for _ in range(args.repeat)]
        print(_row(label, min(runs, key=lambda r: r["elapsed_s"])))
    broker = None
    bootstrap = args.bootstrap
    if args.tansu and not bootstrap:
        broker = _start_tansu()
        bootstrap = broker.bootstrap
    try:
        if bootstrap:
            print(f"\n{'produce to ' + bootstrap:<28}{'points/s':>12}{'lines/s':>12}{'msgs/s':>11}{'MB/s':>8}"
                  f"{'wall s':>9}")
            r = measure_produce(cases["mixed"], args.seconds, bootstrap)
            print(_row("mixed, flushed", r) + f"   undelivered {r['undelivered']:.0f}")
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
