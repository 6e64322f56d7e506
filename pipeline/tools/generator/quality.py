"""How well the product's detection finds the generator's incidents, in-process, in simulated time.

    python -m aiops.pipeline.tools.generator.quality --live 1800 --seed 7

Generated messages go through the worker's own stages (``NormaliseStage``,
then ``ScoreStage`` with the default or a given configuration) tick by tick,
with ``now`` = the tick's event time, so an hour of traffic takes a minute
or two instead of an hour. The anomalies are compared with the ground truth
by ``evaluate``; the table and the run's figures are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.evaluate import EvalReport, evaluate
from aiops.pipeline.tools.generator.messages import Message
from aiops.pipeline.tools.generator.produce import TrafficGenerator

START = 1_700_000_000.0


class InProcessPipeline:
    """The worker's normalise and score stages, fed directly."""

    def __init__(self, settings: Any) -> None:
        from aiops.pipeline.stages import NormaliseStage, ScoreStage

        self.normaliser = NormaliseStage(settings)
        self.scorer = ScoreStage(settings)
        self.topics = settings.topics
        self.anomalies: list[dict[str, Any]] = []
        self.events = 0

    def feed(self, messages: list[Message], now: float) -> None:
        from aiops.pipeline.stages import RawMessage

        for kind, topic in (("metrics", self.topics.metrics), ("logs", self.topics.logs)):
            raw = [RawMessage(t, None, None, value) for t, _, value in messages if t == topic]
            if not raw:
                continue
            batch = self.normaliser.process(kind, raw, now=now)
            events = [e for part in batch.events_by_partition.values() for e in part]
            self.events += len(events)
            scored = self.scorer.process(events, now=now)
            self.anomalies += [a.to_dict() for a in scored.anomalies]


def measure(config: GeneratorConfig, *, history_s: float, live_s: float, grace_s: float,
            settings: Any = None) -> tuple[EvalReport, dict[str, float]]:
    """Run history then live traffic through the stages; return the evaluation and run figures."""
    from aiops.pipeline.config import parse_settings

    settings = settings or parse_settings({})
    config = config.model_copy(update={"metrics_topic": settings.topics.metrics, "logs_topic": settings.topics.logs})
    gen = TrafficGenerator(config)
    pipeline = InProcessPipeline(settings)
    began = time.perf_counter()
    pending: list[Message] = []
    for message in gen.history(START - history_s, START):
        pending.append(message)
        if len(pending) >= 50:
            pipeline.feed(pending, gen.last_time)
            pending = []
    pipeline.feed(pending, gen.last_time)
    warm = time.perf_counter()
    ticks = int(live_s / config.interval_s)
    for k, (due, messages) in enumerate(gen.live(START)):
        if k >= ticks:
            break
        pipeline.feed(messages, due)
    gen.finish(START + (ticks - 1) * config.interval_s)
    done = time.perf_counter()
    report = evaluate(gen.truth, pipeline.anomalies, grace_s=grace_s, since=START)
    figures = {"events": pipeline.events, "history_wall_s": warm - began, "live_wall_s": done - warm,
               "events_per_s": pipeline.events / max(done - began, 1e-9)}
    return report, figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiops.pipeline.tools.generator.quality",
                                description=__doc__.split("\n")[0])
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--services", type=int, default=3)
    p.add_argument("--history", type=float, default=1200.0, help="seconds of clean traffic first")
    p.add_argument("--live", type=float, default=1800.0, help="seconds of traffic with incidents")
    p.add_argument("--period", type=float, default=600.0)
    p.add_argument("--anomaly-rate", type=float, default=1.0, help="incidents per minute over the fleet")
    p.add_argument("--grace", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--config", help="worker settings file (detection, logs and ingest sections are used)")
    args = p.parse_args(argv)
    from aiops.pipeline.config import load_settings

    settings = load_settings(args.config)
    config = GeneratorConfig(hosts=args.hosts, services=args.services, period_s=args.period, seed=args.seed,
                             anomaly_rate=args.anomaly_rate, warmup_s=0.0)
    report, figures = measure(config, history_s=args.history, live_s=args.live, grace_s=args.grace,
                              settings=settings)
    print(f"{args.hosts} hosts x {args.services} services, {args.history:.0f} s clean history, "
          f"{args.live:.0f} s live at {args.anomaly_rate:g} incidents/min, seed {args.seed}, grace {args.grace:g} s")
    print(f"{figures['events']} events through normalise + score in "
          f"{figures['history_wall_s'] + figures['live_wall_s']:.1f} s ({figures['events_per_s']:,.0f} events/s)\n")
    print(report.format())
    print("\n(simulated time: ingest and detection share the tick's clock, so the latency line says nothing "
          "here; `aiops generate` against a running worker measures it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
