"""A million distinct series names against one real worker with a series cap.

The cap holds: the series past it are refused, counted (``ingest_refused_series``
on /healthz and /metrics) and logged once; the worker keeps scoring what it
tracks. The worker's resident memory per tracked series is read from
``/proc/<pid>/status`` and printed (``aiops bench memory`` measures it at
100k series); the test asserts only a generous bound on it.
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from confluent_kafka import Producer

pytestmark = pytest.mark.integration

DISTINCT = 1_000_000
CAP = 20_000
PER_MESSAGE = 5000  # series per Kafka message: line protocol, one line each
#: Generous: the measured figure is printed, and ``aiops bench memory`` gives the one for the README.
RSS_PER_SERIES_BOUND_KB = 40


def payloads(start: float) -> list[bytes]:
    stamp = int(start * 1e9)
    out = []
    for first in range(0, DISTINCT, PER_MESSAGE):
        out.append("\n".join(f"card,host=h{n % 1000},id=x{n} v={n % 13}i {stamp}"
                             for n in range(first, first + PER_MESSAGE)).encode())
    return out


def metric_value(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_a_million_series_names_are_capped_with_a_counter_and_one_log_line(broker, workers):
    cfg = workers.config({"ingest": {"max_series": CAP}, "alerting": {"api": {"public_metrics": True}}})
    worker = workers.start(cfg)
    worker.wait_for(lambda s: True)
    deadline = time.monotonic() + 60
    while '"state.restored"' not in worker.logs() and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1)
    idle_kb = worker.rss_kb()

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "message.max.bytes": 4_000_000})
    for value in payloads(time.time() - 600):
        producer.produce(cfg["topics"]["metrics"], value=value)
        producer.poll(0)
    assert producer.flush(60) == 0

    stats = worker.wait_for(lambda s: s["ingest_series_seen"] + s["ingest_refused_series"] >= DISTINCT,
                            timeout_s=300)
    stats = worker.wait_for(lambda s: s["points_scored"] >= CAP and s["state_records_saved"] >= CAP, timeout_s=180)
    time.sleep(cfg["worker"]["snapshot_interval_s"] + 1)  # a later snapshot: nothing of the first one in flight
    held_kb = worker.rss_kb()

    assert stats["ingest_series_seen"] == CAP
    assert stats["ingest_refused_series"] == DISTINCT - CAP
    assert stats["points_scored"] == CAP
    assert metric_value(worker.port, "aiops_ingest_refused_series_total") == DISTINCT - CAP
    cap_lines = [line for line in worker.logs().splitlines() if '"series_cap_reached"' in line]
    assert len(cap_lines) == 1, cap_lines
    assert worker.proc.poll() is None and worker.health()["status"] == "ok"

    per_series_kb = (held_kb - idle_kb) * 1024 / CAP / 1000
    print(f"worker RSS: idle {idle_kb / 1024:.0f} MiB, {CAP:,} series tracked {held_kb / 1024:.0f} MiB: "
          f"{per_series_kb:.1f} kB per series")
    assert per_series_kb <= RSS_PER_SERIES_BOUND_KB
