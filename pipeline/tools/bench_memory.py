"""``aiops bench memory``: the worker's resident memory per tracked series, measured in the worker process.

A real broker (the embedded one unless ``--bootstrap``) and one worker
process. Its resident set (``VmRSS`` of ``/proc/<pid>/status``) is read
once it is ready and idle, then ``--series`` distinct series get ``--steps``
points each (line protocol, ``--per-message`` points per Kafka message),
and once every point is scored and every series' state snapshot written,
the resident set is read again. The difference over the series is what a
tracked series costs: detector state, the ingest guard's entry, labels, and
whatever the snapshots and the allocator leave behind. ``VmHWM`` gives the
peak on the way.

That difference also holds the worker's bounded caches (the ingest guard's
recent event keys, ``ingest.dedup_cache``, and the line-protocol heads), which
fill on the way and then stop growing. With ``--more-series`` a second wave of
that many new series follows, and its difference over those series is what
each further series costs once the caches are full: the figure for sizing a
worker (idle + caches + series × it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from confluent_kafka import Producer

from aiops.pipeline.config import Settings, TopicSettings, load_settings
from aiops.pipeline.tools.child_processes import start_group, stop_group
from aiops.pipeline.tools.embedded_broker import EmbeddedBroker, free_port
from aiops.pipeline.topics import ensure_topics


def proc_status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def series_lines(series: int, step: int, start: float, per_message: int, first: int = 0) -> list[bytes]:
    """One point of series ``first`` .. ``first + series - 1`` at ``start + step``, ``per_message`` lines a message.

    >>> [m.decode() for m in series_lines(3, 0, 100.0, 2)][0].splitlines()[1]
    'mem,host=h1,svc=s1 value=57.000 100000000000'
    >>> series_lines(1, 0, 100.0, 2, first=7)[0].decode()
    'mem,host=h7,svc=s7 value=55.000 100000000000'
    """
    ts = int((start + step) * 1e9)
    lines = [f"mem,host=h{s % 1000},svc=s{s} value={50 + (s * 7 + step * 3) % 11:.3f} {ts}"
             for s in range(first, first + series)]
    return [("\n".join(lines[i:i + per_message])).encode() for i in range(0, len(lines), per_message)]


def fetch_health(port: int, *, timeout_s: float) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as resp:
        return json.loads(resp.read())


def wait_until(port: int, predicate, timeout_s: float, what: str) -> dict:
    deadline = time.monotonic() + timeout_s
    stats: dict = {}
    while time.monotonic() < deadline:
        try:
            stats = fetch_health(port, timeout_s=5)
            if predicate(stats):
                return stats
        except OSError:
            pass  # busy scoring; ask again
        time.sleep(0.5)
    raise TimeoutError(f"{what} not reached in {timeout_s:.0f}s; last counters {stats}")


def wait_ready(port: int, timeout_s: float, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode} (see var/bench-memory/worker.log)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the worker was not ready within {timeout_s:.0f}s")


def write_bench_config(out: Path, bootstrap: str, prefix: str, *, series: int, partitions: int,
                       kafka: dict, worker: dict) -> tuple[Path, Settings]:
    """A bench worker's config file in ``out`` (its own ``prefix``-ed topics and group, room for ``series``).

    ``kafka`` and ``worker`` add to those sections; returns the file and its settings.
    """
    config = {
        "kafka": {"bootstrap_servers": bootstrap, "partitions": partitions, "group_id": f"{prefix}-workers", **kafka},
        "topics": {name: f"{prefix}.{default}" for name, default in TopicSettings().model_dump().items()},
        "ingest": {"max_series": series + 1000},
        "worker": {"data_dir": str(out / "worker"), **worker},
        "logging": {"level": "warning", "format": "json"},
    }
    path = out / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, load_settings(path)


def start_worker(out: Path, config: Path) -> subprocess.Popen:
    """A worker process on ``config`` leading its own process group, its log appended to ``out/worker.log``."""
    with open(out / "worker.log", "ab") as log_file:
        return start_group([sys.executable, "-m", "aiops.pipeline.cli", "worker", "--config", str(config)],
                           stdout=subprocess.DEVNULL, stderr=log_file, stdin=subprocess.DEVNULL)


def run_memory_benchmark(args: argparse.Namespace) -> int:
    out = Path("var/bench-memory")
    out.mkdir(parents=True, exist_ok=True)
    broker = None if args.bootstrap else EmbeddedBroker(log_path=out / "broker.log").start()
    bootstrap = args.bootstrap or broker.bootstrap
    port = free_port()
    prefix = f"benchmem{port}"
    path, settings = write_bench_config(
        out, bootstrap, prefix, series=args.series + args.more_series, partitions=2,
        kafka={"session_timeout_s": 6, "rebalance_timeout_s": 7},
        worker={"web_port": port, "batch_size": 500, "batch_within_s": 0.05,
                "snapshot_interval_s": args.snapshot_interval})
    ensure_topics(settings)
    worker = start_worker(out, path)
    try:
        wait_ready(port, 90, worker)
        time.sleep(2)
        idle_kb = proc_status_kb(worker.pid, "VmRSS")
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 1000,
                             "message.max.bytes": 8_000_000})
        start = time.time() - 3600

        def feed(series: int, first: int) -> tuple[float, dict]:
            """Send ``steps`` points of ``series`` new series; seconds until scored, stats once all are snapshot."""
            t0 = time.monotonic()
            for step in range(args.steps):
                for msg in series_lines(series, step, start, args.per_message, first):
                    producer.produce(settings.topics.metrics, value=msg)
                    producer.poll(0)
            producer.flush()
            total = (first + series) * args.steps
            wait_until(port, lambda s: s["points_scored"] >= total, args.timeout, f"{total:,} points scored")
            scored_s = time.monotonic() - t0
            stats = wait_until(port, lambda s: s["state_records_saved"] >= first + series, args.timeout,
                               f"{first + series:,} state records saved")
            time.sleep(args.snapshot_interval + 1)  # one more snapshot: nothing of the last one is still in flight
            return scored_s, stats

        scored_s, stats = feed(args.series, 0)
        held_kb = proc_status_kb(worker.pid, "VmRSS")
        peak_kb = proc_status_kb(worker.pid, "VmHWM")
        per_series = (held_kb - idle_kb) * 1024 / args.series / 1000
        peak_per_series = (peak_kb - idle_kb) * 1024 / args.series / 1000
        print(f"worker RSS per tracked series: {per_series:.1f} kB (1 kB = 1000 bytes; {args.series:,} series, "
              f"{args.steps} points each, scored in {scored_s:.0f}s)")
        print(f"worker RSS idle {idle_kb / 1024:.0f} MiB, holding the series {held_kb / 1024:.0f} MiB, "
              f"peak {peak_kb / 1024:.0f} MiB ({peak_per_series:.1f} kB per series above idle)")
        print(f"series seen by the ingest guard {stats.get('ingest_series_seen')}, "
              f"state records saved {stats['state_records_saved']:,}")
        if args.more_series:
            scored_s, stats = feed(args.more_series, args.series)
            more_kb = proc_status_kb(worker.pid, "VmRSS")
            each = (more_kb - held_kb) * 1024 / args.more_series / 1000
            print(f"each further series, caches full: {each:.1f} kB ({args.more_series:,} more series, "
                  f"RSS {held_kb / 1024:.0f} -> {more_kb / 1024:.0f} MiB, scored in {scored_s:.0f}s; "
                  f"series seen {stats.get('ingest_series_seen')})")
        return 0
    finally:
        stop_group(worker, grace_s=30)
        if broker is not None:
            broker.stop()
