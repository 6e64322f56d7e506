"""Delivery benchmark: throughput, latency and an outage drill, printed as numbers.

Runs everything on loopback: an in-memory sink (the cost of ``Delivery``
itself), the signed webhook sink against a local aiohttp receiver, and the
same receiver stopped for ``--outage-s`` mid-stream, counting arrivals per
dedup key. Bounded by ``--notifications``.

    python -m aiops.pipeline.tools.bench_sinks --notifications 2000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections import Counter
from typing import Any

import structlog
from aiohttp import web

from aiops.alerting.alert import Alert, Notification
from aiops.alerting.delivery import Delivery
from aiops.alerting.sinks.webhook import IDEMPOTENCY_HEADER, WebhookSink, WebhookSinkConfig
from aiops.pipeline.tools.embedded_broker import free_port


def sample_notification(i: int) -> Notification:
    alert = Alert.firing(labels={"alertname": "AnomalyDetected", "series": f"cpu|host=web-{i}", "host": f"web-{i}"},
                         annotations={"summary": f"cpu high on web-{i}"}, starts_at=1_700_000_000.0 + i,
                         severity="error", score=0.97)
    return Notification("sre", f"group-{i}", {"alertname": "AnomalyDetected"}, [alert])


class MemorySink:
    kind = "memory"

    def __init__(self) -> None:
        self.count = 0

    async def send(self, notification: Notification) -> None:
        self.count += 1

    async def close(self) -> None:
        return None


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: Counter[str] = Counter()
        self.runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals[request.headers[IDEMPOTENCY_HEADER]] += 1
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def _nothing(record: bytes) -> None:
    raise RuntimeError("unexpected dead letter")


async def _run(delivery: Delivery, notes: list[Notification], concurrency: int) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(note: Notification) -> None:
        async with gate:
            t0 = time.perf_counter()
            await delivery.submit(note)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in notes))
    return time.perf_counter() - start, latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


async def bench(notifications: int, concurrency: int, outage_s: float) -> dict[str, Any]:
    notes = [sample_notification(i) for i in range(notifications)]
    results: dict[str, Any] = {}

    memory = MemorySink()
    elapsed, _ = await _run(Delivery({"sre": [memory]}, dead_letter=_nothing), notes, concurrency)
    results["memory_sink_per_s"] = notifications / elapsed

    receiver = Receiver(free_port())
    await receiver.start()
    sink = WebhookSink(WebhookSinkConfig(url=f"http://127.0.0.1:{receiver.port}/hook", secret="k"))
    delivery = Delivery({"sre": [sink]}, dead_letter=_nothing)
    elapsed, lat = await _run(delivery, notes, concurrency)
    results.update(webhook_per_s=notifications / elapsed, webhook_p50_ms=_pct(lat, 50), webhook_p99_ms=_pct(lat, 99))
    await delivery.close()

    receiver.arrivals.clear()
    dead: list[bytes] = []

    async def keep(record: bytes) -> None:
        dead.append(record)

    sink = WebhookSink(WebhookSinkConfig(url=f"http://127.0.0.1:{receiver.port}/hook", secret="k", timeout_s=1))
    delivery = Delivery({"sre": [sink]}, dead_letter=keep, backoff_base_s=0.05, backoff_max_s=0.5,
                        breaker_threshold=3, breaker_reset_s=0.3, max_wait_s=60.0)
    spread_s = max(outage_s * 2, 1.0)
    pending: list[asyncio.Task[Any]] = []

    async def stream() -> None:
        for note in notes:
            pending.append(asyncio.create_task(delivery.submit(note)))
            await asyncio.sleep(spread_s / notifications)

    async def outage() -> None:
        await asyncio.sleep(spread_s / 4)
        await receiver.stop()
        await asyncio.sleep(outage_s)
        await receiver.start()

    t0 = time.perf_counter()
    await asyncio.gather(stream(), outage())
    await asyncio.gather(*pending)
    results.update(
        outage_total_s=time.perf_counter() - t0,
        outage_arrived_distinct=len(receiver.arrivals),
        outage_duplicates=sum(c - 1 for c in receiver.arrivals.values()),
        outage_dead_lettered=len(dead),
        outage_retried=delivery.metrics()["totals"]["retried"],
    )
    await delivery.close()
    await receiver.stop()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--outage-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    results = asyncio.run(bench(args.notifications, args.concurrency, args.outage_s))
    print(f"notifications={args.notifications} concurrency={args.concurrency} outage_s={args.outage_s}")
    for key, value in results.items():
        print(f"{key:26s} {value:12.1f}" if isinstance(value, float) else f"{key:26s} {value:12d}")


if __name__ == "__main__":
    main()
