"""``aiops bench pipeline``: events/s through broker + worker, and event-to-anomaly latency.

Phase 1 (throughput) sends warm-up history and then ``--points`` points of
``--series`` series as line protocol, ``--per-message`` points per Kafka
message, as fast as possible, and times until the worker has scored them all.
Phase 2 (latency) paces points at a moderate rate with a spike every second
on a random series, event time = send time, and reports percentiles of
anomaly detected time minus event time.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import yaml
from confluent_kafka import Producer

from aiops.pipeline.config import load_settings
from aiops.pipeline.child_processes import stop_group
from aiops.pipeline.demo import AnomalyCollector, fetch_health, percentile, start_worker, wait_healthy
from aiops.pipeline.embedded_broker import EmbeddedBroker, free_port
from aiops.pipeline.topics import ensure_topics


def lp_messages(series: int, start: float, steps: int, per_message: int, rng: random.Random,
                spikes: dict[tuple[int, int], float] | None = None) -> list[bytes]:
    lines: list[str] = []
    for k in range(steps):
        ts = int((start + k) * 1e9)
        for s in range(series):
            value = 50 + rng.gauss(0, 2)
            if spikes and (k, s) in spikes:
                value = spikes[(k, s)]
            lines.append(f"bench,host=h{s % 50},svc=s{s} value={value:.3f} {ts}")
    return [("\n".join(lines[i:i + per_message])).encode() for i in range(0, len(lines), per_message)]


def scored(port: int) -> int:
    try:
        return int(fetch_health(port, timeout_s=5)["points_scored"])
    except OSError:
        return -1  # busy; ask again


def wait_scored(port: int, target: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if scored(port) >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"worker scored {scored(port)} of {target} points in {timeout_s:.0f}s")


def run_pipeline_benchmark(args: argparse.Namespace) -> int:
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    broker = None if args.bootstrap else EmbeddedBroker(log_path=out / "broker.log").start()
    bootstrap = args.bootstrap or broker.bootstrap
    port = free_port()
    config = {
        "kafka": {"bootstrap_servers": bootstrap, "partitions": 2, "group_id": f"bench-{port}",
                  "session_timeout_s": 6, "rebalance_timeout_s": 7},
        "topics": {"metrics": f"bench{port}.metrics", "events": f"bench{port}.events",
                   "anomalies": f"bench{port}.anomalies", "state": f"bench{port}.state",
                   "deadletter": f"bench{port}.deadletter"},
        "worker": {"web_port": port, "batch_size": 500, "batch_within_s": 0.05, "snapshot_interval_s": 60,
                   "data_dir": str(out / "worker")},
        "logging": {"level": "warning", "format": "json"},
    }
    path = out / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = load_settings(path)
    ensure_topics(settings)
    worker = start_worker(path, out / "worker.log")
    rng = random.Random(1)
    try:
        wait_healthy(port, 60, worker)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10, "batch.num.messages": 1000})
        topic = settings.topics.metrics
        warm_steps = 120
        start = time.time() - 3600
        for msg in lp_messages(args.series, start, warm_steps, args.per_message, rng):
            producer.produce(topic, value=msg)
            producer.poll(0)
        producer.flush()
        target = args.series * warm_steps
        wait_scored(port, target, 600)

        steps = max(1, args.points // args.series)
        messages = lp_messages(args.series, start + warm_steps, steps, args.per_message, rng)
        t0 = time.monotonic()
        for msg in messages:
            producer.produce(topic, value=msg)
            producer.poll(0)
        producer.flush()
        target += steps * args.series
        t1 = wait_scored(port, target, 1200)
        rate = steps * args.series / (t1 - t0)

        collector = AnomalyCollector(bootstrap, settings.topics.anomalies)
        collector.start()
        live_seconds, per_second = 20, max(args.series, 1000)
        for _ in range(live_seconds):
            tick = time.time()
            spike_series = rng.randrange(args.series)
            msgs = lp_messages(args.series, tick, 1, args.per_message, rng, spikes={(0, spike_series): 500.0})
            for msg in msgs:
                producer.produce(topic, value=msg)
            producer.flush()
            time.sleep(max(0.0, 1.0 - (time.time() - tick)))
        time.sleep(3)
        collector.stop()
        live = [a for a in collector.records if a["time"] > time.time() - live_seconds - 10]
        latencies = [a["detected_time"] - a["time"] for a in live]

        print(f"pipeline throughput: {rate:,.0f} points/s ({steps * args.series:,} points, {args.series} series, "
              f"{args.per_message} points/message, 2 partitions, one worker)")
        print(f"event-to-anomaly latency over {len(latencies)} anomalies at ~{per_second} points/s: "
              f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms")
        return 0
    finally:
        stop_group(worker, grace_s=5.0)
        if broker is not None:
            broker.stop()
