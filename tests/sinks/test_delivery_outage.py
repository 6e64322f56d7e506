"""No alert lost: a real HTTP receiver goes down mid-stream and comes back on the same port."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from aiohttp import web

from aiops.alerting.delivery import Delivery
from aiops.alerting.sinks.webhook import IDEMPOTENCY_HEADER, WebhookSink, WebhookSinkConfig

pytestmark = pytest.mark.integration

N = 60
OUTAGE_S = 2.0


class CountingReceiver:
    def __init__(self) -> None:
        self.arrivals: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals[request.headers[IDEMPOTENCY_HEADER]] += 1
        return web.Response(status=200, text="ok")


async def test_every_notification_arrives_exactly_once_across_an_outage(http_server, unused_port,
                                                                        new_notification):
    """N notifications submitted before, during and after a 2 s outage: each arrives once, none dead-lettered."""
    receiver = CountingReceiver()
    server = await http_server(receiver.handle, port=unused_port)
    dead: list[bytes] = []

    async def dead_letter(record: bytes) -> None:
        dead.append(record)

    sink = WebhookSink(WebhookSinkConfig(url=f"{server.url}/hook", secret="k", timeout_s=5.0))
    delivery = Delivery({"sre": [sink]}, dead_letter=dead_letter, max_attempts=4, backoff_base_s=0.05,
                        backoff_max_s=0.4, breaker_threshold=3, breaker_reset_s=0.3, max_wait_s=30.0)
    notes = [new_notification(i) for i in range(N)]
    pending: list[asyncio.Task] = []

    async def stream() -> None:
        for note in notes:
            pending.append(asyncio.create_task(delivery.submit(note)))
            await asyncio.sleep(0.05)

    async def outage() -> None:
        await asyncio.sleep(0.6)
        await server.stop()
        await asyncio.sleep(OUTAGE_S)
        assert delivery.metrics()["sinks"]["sre.webhook"]["breaker"] in ("open", "half_open")
        await server.start()

    try:
        await asyncio.gather(stream(), outage())
        results = await asyncio.wait_for(asyncio.gather(*pending), 30)
    finally:
        await delivery.close()

    assert dead == [], [json.loads(d)["reason"] for d in dead]
    assert all(r == {"sre.webhook": "sent"} for r in results)
    assert set(receiver.arrivals) == {n.dedup_key for n in notes}
    assert all(count == 1 for count in receiver.arrivals.values()), receiver.arrivals.most_common(3)
    metrics = delivery.metrics()["sinks"]["sre.webhook"]
    assert metrics["sent"] == N and metrics["retried"] > 0 and metrics["breaker_opened"] >= 1
    assert metrics["breaker"] == "closed"


def _down_then_up_delivery(url: str, dead: list[bytes], *, max_wait_s: float) -> Delivery:
    """The shipped ratio of budgets (``max_attempts`` equal to ``breaker_threshold``), on a short clock."""
    async def dead_letter(record: bytes) -> None:
        dead.append(record)

    sink = WebhookSink(WebhookSinkConfig(url=url, secret="k", timeout_s=2.0))
    return Delivery({"sre": [sink]}, dead_letter=dead_letter, max_attempts=5, breaker_threshold=5,
                    backoff_base_s=0.02, backoff_max_s=0.1, breaker_reset_s=0.3, max_wait_s=max_wait_s)


async def test_a_receiver_down_from_the_start_gets_the_notification_once_when_it_returns(
        http_server, unused_port, new_notification):
    """The breaker opening is not the notification's failure: nothing is dead-lettered while the receiver is
    down for longer than the attempts take, and the notification arrives once when it is back."""
    dead: list[bytes] = []
    receiver = CountingReceiver()
    delivery = _down_then_up_delivery(f"http://127.0.0.1:{unused_port}/hook", dead, max_wait_s=20.0)
    note = new_notification(1)
    try:
        task = asyncio.create_task(delivery.submit(note))
        await asyncio.sleep(2.0)  # five refused tries take well under a second; the breaker opened
        metrics = delivery.metrics()["sinks"]["sre.webhook"]
        assert metrics["breaker_opened"] >= 1 and dead == [], [json.loads(d)["reason"] for d in dead]
        assert not task.done()
        await http_server(receiver.handle, port=unused_port)
        assert await asyncio.wait_for(task, 10) == {"sre.webhook": "sent"}
    finally:
        await delivery.close()
    assert dead == [] and receiver.arrivals == Counter({note.dedup_key: 1})


async def test_a_receiver_that_stays_down_is_dead_lettered_only_after_max_wait(unused_port, new_notification):
    dead: list[bytes] = []
    delivery = _down_then_up_delivery(f"http://127.0.0.1:{unused_port}/hook", dead, max_wait_s=1.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        assert await delivery.submit(new_notification(2)) == {"sre.webhook": "dead_lettered"}
    finally:
        await delivery.close()
    assert loop.time() - started >= 1.5
    assert len(dead) == 1
    reason = json.loads(dead[0])["reason"]
    assert reason.startswith(("sink unavailable for 1.5s", "not delivered in 1.5s")), reason
