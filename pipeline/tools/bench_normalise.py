"""Single-core throughput of ``normalise`` per format, in events per second.

Run: ``python -m aiops.pipeline.tools.bench_normalise [--events N] [--batch B]``.
Payloads are batches of ``B`` items as shippers send them (Telegraf line
protocol and JSON, Vector JSON logs, rsyslog lines); every event passes a
fresh ``IngestGuard`` (dedup and series checks included). The payloads are
built before the clock starts. Rates are given per CPU second of this process
(the single-core figure, fair on a shared machine) and per wall second; the
last line, the rate of only building ``Event`` objects, is the ceiling on
this machine to compare against.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard

NOW = 1_763_805_600.0
HOSTS = 50


def line_protocol(i: int) -> bytes:
    t = int((NOW - 3600 + i * 0.001) * 1e9)
    return (
        f"cpu,cpu=cpu-total,host=web-{i % HOSTS} usage_user={i % 97 * 0.5},usage_system=3.25,"
        f"usage_idle=90.5,usage_iowait=0.25,usage_steal=0i {t}"
    ).encode()


def json_metric(i: int) -> bytes:
    return json.dumps({
        "name": "cpu", "tags": {"cpu": "cpu-total", "host": f"web-{i % HOSTS}"},
        "fields": {"usage_user": i % 97 * 0.5, "usage_system": 3.25, "usage_idle": 90.5,
                   "usage_iowait": 0.25, "usage_steal": 0},
        "timestamp": NOW - 3600 + i * 0.001,
    }).encode()


def json_log(i: int) -> bytes:
    return json.dumps({
        "timestamp": "2025-11-22T09:00:00.%06dZ" % (i % 1_000_000), "host": f"web-{i % HOSTS}",
        "service": "api", "level": "WARN" if i % 10 == 0 else "INFO", "source_type": "file",
        "message": f"GET /api/v1/items/{i} 200 {i % 300}ms",
    }).encode()


def syslog(i: int) -> bytes:
    return (
        f"<38>Nov 22 09:{i // 60 % 60:02d}:{i % 60:02d} web-{i % HOSTS} sshd[{1000 + i % 5000}]: "
        f"Accepted publickey for user{i} from 10.0.{i % 256}.{i % 200} port {40000 + i % 20000} ssh2"
    ).encode()


def ndjson_batches(make: Callable[[int], bytes], count: int, batch: int, joiner: bytes) -> list[bytes]:
    return [joiner.join(make(i) for i in range(s, min(s + batch, count))) for s in range(0, count, batch)]


def json_array_batches(make: Callable[[int], bytes], count: int, batch: int) -> list[bytes]:
    return [b"[" + b",".join(make(i) for i in range(s, min(s + batch, count))) + b"]"
            for s in range(0, count, batch)]


def measure(kind: str, payloads: list[bytes]) -> tuple[int, float, float]:
    """Events made, CPU seconds and wall seconds for normalising ``payloads``."""
    guard = IngestGuard(IngestSettings(max_past_s=30 * 86400.0))
    start_cpu = time.process_time()
    start = time.perf_counter()
    events = 0
    for payload in payloads:
        result = normalise(kind, payload, now=NOW, guard=guard)  # type: ignore[arg-type]
        if result.rejects:
            raise SystemExit(f"benchmark payload rejected: {result.rejects[0].reason}")
        events += len(result.events)
    return events, time.process_time() - start_cpu, time.perf_counter() - start


def reference(count: int) -> float:
    """Events/s of only building ``Event`` objects (no parsing, no guard): this machine's ceiling."""
    from aiops.detectors.core.shapes import Event, series_id_for

    start = time.process_time()
    for i in range(count):
        labels = {"cpu": "cpu-total", "host": f"web-{i % HOSTS}"}
        Event("metric", series_id_for("cpu", labels), labels, NOW, {"usage_user": 1.0, "usage_idle": 2.0})
    return count / (time.process_time() - start)


def machine_speed_us() -> float:
    """CPU microseconds for ``sum(range(1000))``, best of 5: to compare rates across machines."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(2000):
            sum(range(1000))
        best = min(best, (time.process_time() - start) / 2000 * 1e6)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500, help="items per Kafka message")
    args = parser.parse_args(argv)
    n, b = args.events, args.batch
    cases = [
        ("line protocol", "metrics", ndjson_batches(line_protocol, n, b, b"\n")),
        ("JSON metrics (Telegraf, array)", "metrics", json_array_batches(json_metric, n, b)),
        ("JSON logs (Vector, NDJSON)", "logs", ndjson_batches(json_log, n, b, b"\n")),
        ("syslog RFC 3164", "logs", ndjson_batches(syslog, n, b, b"\n")),
    ]
    print(f"{'format':38} {'events':>8} {'cpu s':>7} {'events/cpu-s':>13} {'events/wall-s':>14}  (batch {b})")
    for label, kind, payloads in cases:
        events, cpu, wall = measure(kind, payloads)
        print(f"{label:38} {events:>8} {cpu:>7.2f} {events / cpu:>13,.0f} {events / wall:>14,.0f}")
    print(f"{'reference: building Event() objects only':38} {n:>8} {'':>7} {reference(n):>13,.0f}")
    print(f"machine speed: sum(range(1000)) takes {machine_speed_us():.1f} us of CPU "
          "(about 10 us on a typical current x86 core)")


if __name__ == "__main__":
    main()
