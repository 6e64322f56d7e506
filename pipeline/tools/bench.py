"""``aiops bench pipeline``: sustained events/s through broker + workers, latency at half load, RSS.

For each worker count (``--workers``, default 1 and 2) the bench starts an
embedded broker (or uses ``--bootstrap``), fresh topics and that many real
worker processes in one consumer group, then:

1. warm-up: ``--warm-steps`` points of each of ``--series`` series, as line
   protocol with ``--per-message`` points per Kafka message; waits until the
   workers have scored them all;
2. throughput: ``--points`` more points, produced as fast as the producer
   goes. Events/s are points the workers *finished* (the sum of their
   ``points_scored`` counters, sampled every 0.1 s), not points produced:
   the sustained rate is the slope of that sum between 10 % and 90 % of the
   phase's points (start-up and tail left out). Points per worker
   CPU-second (``/proc/PID/stat``) tell what a worker does with a core of
   its own on a machine shared with other work;
3. latency: ``--latency-seconds`` of paced traffic at half the sustained rate
   (or at each ``--latency-rate``, to see where latency bends) with event
   time = send time and two spikes a second on random series; the
   latency of an anomaly is the time the bench reads its record from the
   anomalies topic minus the point's event time (what the alert policy gets
   to see, end to end). A worker's batch closes once its stream has been
   quiet for ``worker.batch_idle_s`` (at most ``BATCH_WITHIN_S`` after its
   first record), and a fetch waits up to ``FETCH_MAX_WAIT_MS`` (Tansu
   holds every fetch that long), so at low load each of the two hops adds
   about a fetch wait;
4. memory: each worker's resident set (``VmRSS``) and its peak (``VmHWM``)
   from ``/proc``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from confluent_kafka import Producer

from aiops.detectors.core.errors import AiopsError
from aiops.pipeline.config import load_settings
from aiops.pipeline.tools.child_processes import start_group as start_child
from aiops.pipeline.tools.child_processes import stop_group
from aiops.pipeline.tools.demo import AnomalyCollector, percentile, wait_healthy, worker_stats
from aiops.pipeline.tools.embedded_broker import EmbeddedBroker, free_port
from aiops.pipeline.topics import ensure_topics

#: The workers' longest wait for more records after a batch's first (a batch closes sooner when the stream is quiet).
BATCH_WITHIN_S = 0.05
#: The workers' and the bench's longest fetch wait: Tansu holds every fetch this long, data or not.
FETCH_MAX_WAIT_MS = 20

#: How often the workers' counters are read while they work.
SAMPLE_EVERY_S = 0.1


def lp_lines(series: Iterable[int], ts: float, rng: random.Random, spikes: dict[int, float] | None = None) -> list[str]:
    """One line-protocol point of each series at ``ts`` (seconds); ``spikes`` maps a series to its value.

    >>> lp_lines(range(2), 1.5, random.Random(0), spikes={1: 500.0})[1]
    'bench,host=h1,svc=s1 value=500.000 1500000000'
    """
    stamp = int(ts * 1e9)
    out = []
    for s in series:
        value = spikes[s] if spikes and s in spikes else 50 + rng.gauss(0, 2)
        out.append(f"bench,host=h{s % 50},svc=s{s} value={value:.3f} {stamp}")
    return out


def lp_messages(series: int, start: float, steps: int, per_message: int, rng: random.Random) -> list[bytes]:
    """``steps`` points of every series (one second apart from ``start``), ``per_message`` lines a message."""
    lines: list[str] = []
    for k in range(steps):
        lines.extend(lp_lines(range(series), start + k, rng))
    return pack(lines, per_message)


def pack(lines: list[str], per_message: int) -> list[bytes]:
    """Lines joined into messages of at most ``per_message`` lines.

    >>> pack(["a", "b", "c"], 2)
    [b'a\\nb', b'c']
    """
    return [("\n".join(lines[i:i + per_message])).encode() for i in range(0, len(lines), per_message)]


def memory_kib(pid: int) -> tuple[int, int]:
    """(resident set, its peak) of a process in KiB, from ``/proc/PID/status``; (0, 0) where unavailable.

    >>> now, peak = memory_kib(os.getpid())
    >>> 0 < now <= peak, memory_kib(-1)
    (True, (0, 0))
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from ``/proc/PID/stat``; 0.0 where unavailable.

    >>> sum(i * i for i in range(3_000_000)) > 0 and cpu_seconds(os.getpid()) > 0, cpu_seconds(-1)
    (True, 0.0)
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sustained_rate(samples: list[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9) -> float:
    """Points per second between the first samples at ``low`` and ``high`` of ``total`` finished points.

    >>> sustained_rate([(0.0, 0), (1.0, 10), (2.0, 60), (3.0, 100)], 100)
    45.0
    """
    t_low = next((t for t, n in samples if n >= low * total), None)
    n_low = next((n for t, n in samples if n >= low * total), 0)
    t_high = next((t for t, n in samples if n >= high * total), None)
    n_high = next((n for t, n in samples if n >= high * total), 0)
    if t_low is None or t_high is None or t_high <= t_low:
        raise AiopsError("too few samples to tell a sustained rate: send more --points")
    return (n_high - n_low) / (t_high - t_low)


@dataclass
class WorkerGroup:
    """``count`` real worker processes in one consumer group, each with its own web port."""

    processes: list
    ports: list[int]

    def healths(self) -> list[dict | None]:
        """Each worker's /healthz answer (None: too busy to answer in time)."""
        return [worker_stats(port, timeout_s=5) or None for port in self.ports]

    def scored(self) -> int:
        """Points the workers have finished scoring, summed (-1: a worker is too busy to answer in time)."""
        healths = self.healths()
        return -1 if None in healths else sum(int(h["points_scored"]) for h in healths if h is not None)

    def shares(self) -> list[tuple[list[int], int]]:
        """Each worker's events partitions and the points it has scored (what a skewed group shows); a worker that
        does not answer in time is ``([], -1)``."""
        return [([], -1) if h is None else (list(h.get("partitions", [])), int(h["points_scored"]))
                for h in self.healths()]

    def ready(self) -> bool:
        for port in self.ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
                    if resp.status != 200:
                        return False
            except OSError:
                return False
        return True

    def cpu(self) -> float:
        """CPU seconds the workers have used, summed."""
        return sum(cpu_seconds(p.pid) for p in self.processes)

    def memory(self) -> list[tuple[int, int]]:
        return [memory_kib(p.pid) for p in self.processes]

    def check_alive(self) -> None:
        for p in self.processes:
            if p.poll() is not None:
                raise AiopsError(f"a worker exited with code {p.returncode} during the bench (see var/bench/)")


def wait_scored(group: WorkerGroup, target: int, timeout_s: float,
                on_sample: Callable[[float, int], None] | None = None) -> float:
    """Poll until the workers have scored ``target`` points; the time they were seen to."""
    deadline = time.monotonic() + timeout_s
    done = 0
    while time.monotonic() < deadline:
        done = group.scored()
        now = time.monotonic()
        if done >= 0 and on_sample is not None:
            on_sample(now, done)
        if done >= target:
            return now
        group.check_alive()
        time.sleep(SAMPLE_EVERY_S)
    raise AiopsError(f"workers scored {done} of {target} points in {timeout_s:.0f}s")


@dataclass
class LatencyRun:
    """One paced phase: what was asked and sent, the anomalies' latencies, each leg's (p50, p99) and the CPU used."""

    asked: str  # "half the sustained rate", or the rate given
    rate: float  # points/s sent
    latencies: list[float]
    legs: dict[str, tuple[float, float]]  # seconds to the normaliser's batch, on to the scorer's, out to the reader
    cores: float  # the workers' CPU seconds per second over the phase, summed


@dataclass
class Figures:
    workers: int
    sustained: float  # points/s finished, all workers together
    overall: float  # points / (all scored - first produced)
    per_cpu_second: float  # points / CPU seconds the workers used meanwhile (what a core would do, shared or not)
    points: int
    latency: list[LatencyRun]  # at half the sustained rate, or at each rate asked for
    memory: list[tuple[int, int]]
    shares: list[tuple[list[int], int]]  # per worker: events partitions owned and points scored, at the end


def start_worker(config_path: Path, logs: Path) -> subprocess.Popen:
    """A worker process; its logs to ``logs``.log, what its console sink prints to ``logs``.out."""
    with open(logs.with_suffix(".log"), "ab") as err, open(logs.with_suffix(".out"), "ab") as out:
        return start_child([sys.executable, "-m", "aiops.pipeline.cli", "worker", "--config", str(config_path)],
                           stdout=out, stderr=err, stdin=subprocess.DEVNULL)


#: Settings the bench gives each worker itself: ``--set`` may not change them.
_BENCH_OWNS = ("kafka.bootstrap_servers", "kafka.group_id", "topics.", "worker.web_port", "worker.data_dir")


def with_settings(config: dict, assignments: list[str]) -> dict:
    """``config`` with each ``SECTION.KEY=VALUE`` of ``assignments`` set (the value read as a YAML scalar).

    >>> with_settings({"worker": {"web_port": 1}}, ["worker.inline_score_max_events=0",
    ...                                             "detection.episodes.strong_surprise=4.5"])
    {'worker': {'web_port': 1, 'inline_score_max_events': 0}, 'detection': {'episodes': {'strong_surprise': 4.5}}}
    >>> with_settings({}, ["topics.events=x"])
    Traceback (most recent call last):
    ...
    aiops.detectors.core.errors.AiopsError: --set topics.events: the bench sets it itself
    """
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        path = key.split(".")
        if not sep or len(path) < 2 or not all(path):
            raise AiopsError(f"--set {assignment!r}: expected SECTION.KEY=VALUE")
        if any(key == owned or (owned.endswith(".") and key.startswith(owned)) for owned in _BENCH_OWNS):
            raise AiopsError(f"--set {key}: the bench sets it itself")
        node = config
        for name in path[:-1]:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise AiopsError(f"--set {key}: {name} is not a section")
        node[path[-1]] = yaml.safe_load(raw)
    return config


def start_group(bootstrap: str, count: int, args: argparse.Namespace, out: Path) -> tuple[WorkerGroup, object]:
    tag = free_port()
    ports = [free_port() for _ in range(count)]
    settings = None
    processes = []
    for i, port in enumerate(ports):
        config = {
            "kafka": {"bootstrap_servers": bootstrap, "partitions": args.partitions, "group_id": f"bench-{tag}",
                      "session_timeout_s": 6, "rebalance_timeout_s": 7, "fetch_max_wait_ms": FETCH_MAX_WAIT_MS},
            "topics": {"metrics": f"bench{tag}.metrics", "events": f"bench{tag}.events",
                       "anomalies": f"bench{tag}.anomalies", "state": f"bench{tag}.state",
                       "deadletter": f"bench{tag}.deadletter"},
            "worker": {"web_port": port, "batch_within_s": BATCH_WITHIN_S, "snapshot_interval_s": 60,
                       "data_dir": str(out / f"worker{i}")},
            "logging": {"level": "warning", "format": "json"},
        }
        config = with_settings(config, args.set)
        path = out / f"bench-{count}w-{i}.yaml"
        path.write_text(yaml.safe_dump(config))
        if settings is None:
            settings = load_settings(path)
            ensure_topics(settings)
        processes.append(start_worker(path, out / f"worker-{count}w-{i}"))
    group = WorkerGroup(processes, ports)
    for proc, port in zip(processes, ports):
        wait_healthy(port, 60, proc)
    deadline = time.monotonic() + 60
    while not group.ready():
        group.check_alive()
        if time.monotonic() > deadline:
            raise AiopsError("the workers did not own their partitions within 60 s")
        time.sleep(0.3)
    return group, settings


def run_once(bootstrap: str, count: int, args: argparse.Namespace, out: Path, say) -> Figures:
    group, settings = start_group(bootstrap, count, args, out)
    rng = random.Random(1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 1000,
                         "queue.buffering.max.messages": 1_000_000})
    topic = settings.topics.metrics

    def send(messages: list[bytes]) -> None:
        for msg in messages:
            producer.produce(topic, value=msg)
            producer.poll(0)
        producer.flush()

    try:
        start = time.time() - 3600
        send(lp_messages(args.series, start, args.warm_steps, args.per_message, rng))
        base = args.series * args.warm_steps
        wait_scored(group, base, 600)
        say(f"{count} worker(s): warm ({base:,} points scored)")

        steps = max(1, args.points // args.series)
        points = steps * args.series
        messages = lp_messages(args.series, start + args.warm_steps, steps, args.per_message, rng)
        samples: list[tuple[float, int]] = []
        t0, cpu0 = time.monotonic(), group.cpu()
        send(messages)
        t1 = wait_scored(group, base + points, 1200, lambda t, n: samples.append((t, n - base)))
        cpu = group.cpu() - cpu0
        memory = group.memory()
        sustained = sustained_rate(samples, points)
        say(f"{count} worker(s): {points:,} points, sustained {sustained:,.0f} points/s")

        shares = group.shares()
        rates = ([(f"{r:,.0f} points/s asked", r) for r in args.latency_rate] if args.latency_rate
                 else [("half the sustained rate", sustained / 2)])
        runs = []
        for asked, target in rates:
            began, cpu0 = time.monotonic(), group.cpu()
            latencies, rate, legs = measure_latency(group, producer, topic, settings.topics.anomalies, bootstrap,
                                                    target, args, rng)
            cores = (group.cpu() - cpu0) / (time.monotonic() - began)
            runs.append(LatencyRun(asked, rate, latencies, legs, cores))
        return Figures(count, sustained, points / (t1 - t0), points / cpu if cpu else 0.0, points, runs,
                       [(max(a, c), max(b, d)) for (a, b), (c, d) in zip(memory, group.memory())], shares)
    finally:
        for proc in group.processes:
            stop_group(proc, grace_s=20)


def measure_latency(group: WorkerGroup, producer: Producer, topic: str, anomalies_topic: str, bootstrap: str,
                    rate: float, args: argparse.Namespace, rng: random.Random,
                    ) -> tuple[list[float], float, dict[str, tuple[float, float]]]:
    """Paced points at ``rate`` per second (event time = send time); latencies of the anomalies read back."""
    reader = AnomalyCollector(bootstrap, anomalies_topic, group_id=f"bench-reader-{free_port()}", from_end=True,
                              fetch_wait_ms=FETCH_MAX_WAIT_MS, poll_s=0.1)
    reader.start()
    time.sleep(1.0)  # assigned and positioned at the end before the first point goes out
    tick = 0.05
    per_tick = max(1, int(rate * tick))
    began = time.time()
    next_series = 0
    sent = 0
    spikes_due = began
    while time.time() - began < args.latency_seconds:
        tick_start = time.time()
        take = [(next_series + i) % args.series for i in range(per_tick)]
        next_series = (next_series + per_tick) % args.series
        spikes = None
        if tick_start >= spikes_due:
            spikes = {rng.choice(take): 500.0}
            spikes_due += 0.5
        for msg in pack(lp_lines(take, tick_start, rng, spikes), args.per_message):
            producer.produce(topic, value=msg)
        producer.poll(0)
        sent += len(take)
        time.sleep(max(0.0, tick - (time.time() - tick_start)))
    producer.flush()
    elapsed = time.time() - began
    time.sleep(3)
    reader.stop()
    group.check_alive()
    points = [(a, received) for a, received in zip(reader.records, reader.received_at) if a.get("kind") == "point" and a.get("time", 0) >= began]
    latencies = [received - a["time"] for a, received in points]
    # where the time goes: to the normaliser's batch, on to the scorer's batch, then out to the reader
    legs = {"ingest": [a["ingest_time"] - a["time"] for a, _ in points],
            "score": [a["detected_time"] - a["ingest_time"] for a, _ in points],
            "out": [received - a["detected_time"] for a, received in points]}
    return latencies, sent / elapsed, {k: (percentile(v, 50), percentile(v, 99)) for k, v in legs.items()}


def _leg(run: LatencyRun, name: str) -> str:
    p50, p99 = run.legs[name]
    return f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} ms"


def latency_line(workers: int, run: LatencyRun) -> str:
    """One paced phase's figures."""
    lat = (f"p50 {percentile(run.latencies, 50) * 1000:,.0f} ms, p99 {percentile(run.latencies, 99) * 1000:,.0f} ms"
           if run.latencies else "no anomaly read back")
    return (f"{workers} worker(s): event-to-anomaly latency at {run.rate:,.0f} points/s ({run.asked}), "
            f"{len(run.latencies)} anomalies: {lat} (p50 / p99 of each leg: to the normaliser {_leg(run, 'ingest')}, "
            f"on to the scorer {_leg(run, 'score')}, scored and read back {_leg(run, 'out')}); "
            f"workers' CPU {run.cores:.2f} cores")


def report(f: Figures, args: argparse.Namespace) -> list[str]:
    per_worker = f.sustained / f.workers
    rss = ", ".join(f"{now / 1024:,.0f} MiB (peak {peak / 1024:,.0f})" for now, peak in f.memory)
    shares = ", ".join(f"partitions {parts} scored {points:,}" if points >= 0 else "no answer"
                       for parts, points in f.shares)
    return [
        f"{f.workers} worker(s): sustained {f.sustained:,.0f} points/s scored ({per_worker:,.0f} per worker); "
        f"{f.overall:,.0f} points/s first produced to last scored ({f.points:,} points, {args.series:,} series, "
        f"{args.per_message} points/message, {args.partitions} partitions); "
        f"{f.per_cpu_second:,.0f} points per worker CPU-second",
        *(latency_line(f.workers, run) for run in f.latency),
        f"{f.workers} worker(s): RSS per worker {rss}",
        f"{f.workers} worker(s): after the throughput phase, per worker: {shares}",
    ]


def run_pipeline_benchmark(args: argparse.Namespace) -> int:
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    broker = None if args.bootstrap else EmbeddedBroker(log_path=out / "broker.log").start()
    bootstrap = args.bootstrap or broker.bootstrap
    lines: list[str] = []
    try:
        for count in args.workers:
            figures = run_once(bootstrap, count, args, out, say=lambda text: print(text, flush=True))
            lines.extend(report(figures, args))
    finally:
        if broker is not None:
            broker.stop()
    print("\n".join(lines))
    return 0
