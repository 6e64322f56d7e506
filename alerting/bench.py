"""Benchmark of the alert policy: how many anomalies per second it ingests, and what a tick costs.

Anomalies arrive one per second of event time over ``--series`` series on
500 hosts; ``tick`` runs every ``--tick-every`` anomalies, so with the
default 30 s group interval a tick flushes a share of the groups.

``python -m aiops.alerting.bench --series 2000 --anomalies 50000`` (or
``aiops bench-alerting``) prints the numbers; nothing here is asserted by tests.
"""

from __future__ import annotations

import argparse
import random
import time

import structlog

from aiops.alerting.config import AlertingConfig
from aiops.alerting.feedback import LinkSigner
from aiops.alerting.policy import AlertPolicy
from aiops.detectors.core.shapes import Anomaly


def _anomalies(n: int, series: int, seed: int) -> list[Anomaly]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = rng.randrange(series)
        host, service = f"host-{s % 500}", f"svc-{s % 37}"
        out.append(Anomaly(id=f"b{i}", source="metric", series_id=f"m{s}|host={host},service={service}",
                           labels={"host": host, "service": service}, time=float(i), values={"v": rng.random()},
                           score=0.9 + rng.random() / 10, threshold=0.9, severity="warning", detectors={"z": 0.95},
                           contributions={"v": 1.0}, expected={"v": (0.0, 0.5)}, reason="v outside 0..0.5"))
    return out


def run(series: int, anomalies: int, silences: int, tick_every: int = 100, seed: int = 0) -> dict[str, float]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    config = AlertingConfig.model_validate({
        "route": {"group_by": ["host"], "group_wait_s": 5, "group_interval_s": 30,
                  "routes": [{"matchers": ["severity=critical"], "receiver": "default", "continue": True},
                             {"matchers": ["service=~svc-1.*"], "receiver": "default"}]},
        "inhibit_rules": [{"source_matchers": ["kind=host_down"], "target_matchers": ["kind!=host_down"],
                           "equal": ["host"]}],
        "policy": {"resolve_after_s": 60}})
    policy = AlertPolicy(config, signer=LinkSigner(b"bench-secret-0123456"))
    for i in range(silences):
        policy.silences.create([f"host=host-{i}"], starts_at=0, ends_at=1e12, created_by="bench", now=0)
    items = _anomalies(anomalies, series, seed)
    notes = 0
    tick_s: list[float] = []
    t0 = time.perf_counter()
    ingest_s = 0.0
    for i, a in enumerate(items):
        s = time.perf_counter()
        policy.ingest(a, now=a.time)
        ingest_s += time.perf_counter() - s
        if i % tick_every == tick_every - 1:
            s = time.perf_counter()
            notes += len(policy.tick(a.time))
            tick_s.append(time.perf_counter() - s)
    total = time.perf_counter() - t0
    tick_s.sort()
    return {"anomalies": anomalies, "series": series, "tick_every": tick_every, "alerts": len(policy.states), "notifications": notes,
            "ingest_per_s": anomalies / ingest_s, "end_to_end_per_s": anomalies / total,
            "tick_p50_ms": 1000 * tick_s[len(tick_s) // 2], "tick_max_ms": 1000 * tick_s[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--anomalies", type=int, default=100_000)
    parser.add_argument("--silences", type=int, default=50)
    parser.add_argument("--tick-every", type=int, default=100,
                        help="anomalies between ticks (one anomaly per second of event time)")
    args = parser.parse_args(argv)
    result = run(args.series, args.anomalies, args.silences, args.tick_every)
    for key, value in result.items():
        print(f"{key:>18}: {value:,.1f}" if isinstance(value, float) else f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
