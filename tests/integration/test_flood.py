"""A flood: ten times the normal rate for a minute against one real worker.

Back-pressure, not memory: the worker reads only what it can score (Faust's
bounded stream buffers, the consumer's bounded fetches), so the backlog stays
in the broker as lag, the resident set stays under a stated bound, the lag
drains once the flood ends, and every point is scored.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Producer

from tests.support.cluster import group_lag, wait_drained

pytestmark = pytest.mark.integration

SERIES = 1000
NORMAL_RATE = 1000  # points/s; the flood's ten times that is more than one worker scores here
FLOOD_FACTOR = 10
NORMAL_S = 15
FLOOD_S = 60
PER_MESSAGE = 500
#: RSS the flood may add to the worker's resident set once it holds every series at the normal rate.
FLOOD_RSS_BOUND_MB = 200


PREFIXES = [f"flood,host=h{s % 50},svc=s{s} value=" for s in range(SERIES)]


def lines(first: int, count: int, start_ns: int) -> list[str]:
    """Points ``first`` to ``first + count``, over the series in turn, a millisecond of event time apart."""
    return [f"{PREFIXES[n % SERIES]}{50 + n % 7} {start_ns + n * 1_000_000}" for n in range(first, first + count)]


class PacedProducer(threading.Thread):
    """Produces ``rate`` points/s in messages of ``PER_MESSAGE`` lines, 10 ticks a second, until stopped."""

    def __init__(self, bootstrap: str, topic: str, start: float) -> None:
        super().__init__(daemon=True)
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.start_ns = topic, int(start * 1e9)
        self.rate = NORMAL_RATE
        self.sent = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        tick = time.monotonic()
        while not self.stopped.is_set():
            batch = lines(self.sent, self.rate // 10, self.start_ns)
            for i in range(0, len(batch), PER_MESSAGE):
                self.producer.produce(self.topic, value="\n".join(batch[i:i + PER_MESSAGE]).encode())
            self.producer.poll(0)
            self.sent += len(batch)
            tick += 0.1
            time.sleep(max(0.0, tick - time.monotonic()))
        assert self.producer.flush(30) == 0


def test_ten_times_the_rate_for_a_minute_is_back_pressure_not_memory(broker, workers):
    cfg = workers.config({"kafka": {"partitions": 2}})
    worker = workers.start(cfg)
    producer = PacedProducer(broker.bootstrap, cfg["topics"]["metrics"], time.time() - 3000)
    producer.start()
    time.sleep(NORMAL_S)
    worker.wait_for(lambda s: s["ingest_series_seen"] >= SERIES, timeout_s=60)
    normal_kb = worker.rss_kb()

    producer.rate = NORMAL_RATE * FLOOD_FACTOR
    peak_kb, max_lag = normal_kb, 0
    topics = [cfg["topics"]["metrics"], cfg["topics"]["events"]]
    flood_end = time.monotonic() + FLOOD_S
    while time.monotonic() < flood_end:
        peak_kb = max(peak_kb, worker.rss_kb())
        max_lag = max(max_lag, group_lag(broker.bootstrap, cfg["kafka"]["group_id"], topics))
        time.sleep(1.0)
    producer.rate = NORMAL_RATE
    producer.stopped.set()
    producer.join(60)

    drain_s = wait_drained(broker.bootstrap, cfg["kafka"]["group_id"], topics, timeout_s=180)
    stats = worker.wait_for(lambda s: s["points_scored"] >= producer.sent, timeout_s=60)
    peak_kb = max(peak_kb, worker.rss_kb())
    print(f"flood: {producer.sent:,} points, peak lag {max_lag:,} records, drained {drain_s:.0f}s after the flood; "
          f"RSS {normal_kb / 1024:.0f} MiB at the normal rate, peak {peak_kb / 1024:.0f} MiB")
    assert stats["points_scored"] == producer.sent, "points lost or scored twice"
    assert stats["dead_letters"] == 0 and stats["records_held"] == 0
    assert peak_kb - normal_kb <= FLOOD_RSS_BOUND_MB * 1024, (
        f"the flood added {(peak_kb - normal_kb) / 1024:.0f} MiB (bound {FLOOD_RSS_BOUND_MB} MiB)")
    assert worker.proc.poll() is None
