"""``aiops bench restore``: how long a worker takes to restore the state of ``--series`` series.

A real broker (the embedded one unless ``--bootstrap``) and one worker
process. The state topic is filled first with one record per series, as a
worker's snapshots write them: a few template series are scored in this
process for ``--steps`` points each (full calibration rings, the learn delay
active), and each of the ``--series`` series gets one of their records under
its own key, on its own partition. Then a worker starts, is assigned every
partition and restores them; the figures are its own (``/healthz``):
seconds from the start of the read to the last record applied, of which
reading the state topic to its end and checking and applying the records
(the two overlap: batches are applied while the rest is read), and the CPU
seconds of the worker process over the restore. Its resident set after the
restore is printed per series as well, and its peak.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from aiops.detectors.core import state_codec
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import Settings
from aiops.pipeline.stages import ScoreStage
from aiops.pipeline.tools.bench_memory import proc_status_kb, start_worker, wait_ready, wait_until, write_bench_config
from aiops.pipeline.tools.child_processes import stop_group
from aiops.pipeline.tools.embedded_broker import EmbeddedBroker, free_port
from aiops.pipeline.topics import ensure_topics, partition_for

TEMPLATES = 4


def template_records(settings: Settings, steps: int, *, seed: int = 0) -> list[bytes]:
    """Engine state records of ``TEMPLATES`` univariate series that had ``steps`` points each (one a minute).

    >>> from structlog.testing import capture_logs
    >>> with capture_logs():
    ...     records = template_records(Settings(), 40)
    >>> len(records), all(r.startswith(state_codec.MAGIC) for r in records)
    (4, True)
    """
    stage = ScoreStage(settings)
    rng = np.random.default_rng(seed)
    start = time.time() - steps * 60.0
    out = []
    for k in range(TEMPLATES):
        sid = f"bench|host=t{k}"
        values = 50.0 + 5.0 * np.sin(np.arange(steps) / 60.0) + rng.normal(size=steps)
        for i, value in enumerate(values.tolist()):
            t = start + 60.0 * i
            stage.process([Event("metric", sid, {"host": f"t{k}"}, t, {"value": value})], now=t)
        out.append(stage.engine.export_state([sid])[sid])
    return out


def series_id(i: int) -> str:
    return f"mem|host=h{i % 1000},svc=s{i}"


def fill_state_topic(settings: Settings, bootstrap: str, series: int, records: list[bytes]) -> int:
    """One sealed record per series on the state topic (the partition of its series); returns the bytes written."""
    secret = state_codec.state_key_from_env()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10_000,
                         "message.max.bytes": 8_000_000})
    written = 0
    for i in range(series):
        sid = series_id(i)
        key = f"engine/{sid}"
        value = state_codec.seal(key, records[i % len(records)], secret)
        written += len(value)
        while True:
            try:
                producer.produce(settings.topics.state, key=key.encode(), value=value,
                                 partition=partition_for(sid, settings.kafka.partitions))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the state records were not all written within 120 s")
    return written


def run_restore_benchmark(args: argparse.Namespace) -> int:
    out = Path("var/bench-restore")
    out.mkdir(parents=True, exist_ok=True)
    broker = None if args.bootstrap else EmbeddedBroker(log_path=out / "broker.log").start()
    bootstrap = args.bootstrap or broker.bootstrap
    port = free_port()
    prefix = f"benchrestore{port}"
    path, settings = write_bench_config(
        out, bootstrap, prefix, series=args.series, partitions=args.partitions,
        kafka={"session_timeout_s": 30, "rebalance_timeout_s": 60},
        worker={"web_port": port, "snapshot_interval_s": 3600.0})
    try:
        ensure_topics(settings)
        t0 = time.monotonic()
        records = template_records(settings, args.steps)
        written = fill_state_topic(settings, bootstrap, args.series, records)
        print(f"state topic: {args.series:,} records, {written / args.series:,.0f} bytes each on average "
              f"(templates scored {args.steps} points each), written in {time.monotonic() - t0:.0f}s")
        started = time.monotonic()
        worker = start_worker(out, path)
        try:
            wait_ready(port, args.timeout, worker)
            to_ready = time.monotonic() - started
            stats = wait_until(port, lambda s: s["state_records_loaded"] >= args.series, 60,
                               f"{args.series:,} state records loaded")
            rss_kb = proc_status_kb(worker.pid, "VmRSS")
            peak_kb = proc_status_kb(worker.pid, "VmHWM")
        finally:
            stop_group(worker, grace_s=30)
    finally:
        if broker is not None:
            broker.stop()
    read_s, apply_s = stats["last_restore_read_ms"] / 1000, stats["last_restore_apply_ms"] / 1000
    total_s = stats.get("last_restore_ms", stats["last_restore_read_ms"] + stats["last_restore_apply_ms"]) / 1000
    cpu_s = stats["last_restore_cpu_ms"] / 1000
    print(f"restore of {args.series:,} series: {total_s:.2f}s (reading the state topic {read_s:.2f}s, "
          f"checking and applying {apply_s:.2f}s, most of it while reading); worker CPU {cpu_s:.2f}s, "
          f"{cpu_s / args.series * 1e6:.0f} us per series")
    print(f"records loaded {stats['state_records_loaded']:,}, rejected {stats['state_records_rejected']:,}; "
          f"worker start to ready {to_ready:.1f}s; worker RSS after the restore {rss_kb / 1024:,.0f} MiB "
          f"({rss_kb * 1024 / args.series / 1000:.1f} kB per series, the worker's idle size included), "
          f"peak {peak_kb / 1024:,.0f} MiB")
    return 0
