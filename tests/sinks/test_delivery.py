"""Delivery: retries with backoff, circuit breaker, dedup, dead letter, state and metrics."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
from aiohttp import web

from aiops.alerting.delivery import CircuitBreaker, Delivery, DeliveryConfig
from aiops.alerting.sinks.base import RetryAfter
from aiops.alerting.sinks.webhook import IDEMPOTENCY_HEADER, WebhookSink, WebhookSinkConfig
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError


class ScriptedSink:
    """A sink whose answers follow a script of exceptions (None = delivered)."""

    kind = "scripted"

    def __init__(self, script=(), *, then=None, delay_s: float = 0.0) -> None:
        self.script = list(script)
        self.then = then
        self.delay_s = delay_s
        self.calls: list[tuple[float, str]] = []
        self.delivered: list[str] = []

    async def send(self, notification) -> None:
        self.calls.append((time.monotonic(), notification.dedup_key))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        error = self.script.pop(0) if self.script else self.then
        if error is not None:
            raise error
        self.delivered.append(notification.dedup_key)

    async def close(self) -> None:
        pass


class DeadLetters(list):
    async def __call__(self, record: bytes) -> None:
        self.append(json.loads(record))


def _delivery(sinks, dead, **kw) -> Delivery:
    options = dict(backoff_base_s=0.01, backoff_max_s=0.05, breaker_threshold=100, breaker_reset_s=0.1)
    options.update(kw)
    return Delivery(sinks, dead_letter=dead, **options)


class TestRetries:
    async def test_transient_errors_are_retried_until_delivered(self, new_notification):
        """Two 503s then success: delivered once, two retries counted, nothing dead-lettered."""
        sink, dead = ScriptedSink([RetryableDeliveryError("503"), RetryableDeliveryError("503")]), DeadLetters()
        d = _delivery({"sre": [sink]}, dead)
        assert await d.submit(new_notification(1)) == {"sre.scripted": "sent"}
        assert len(sink.calls) == 3 and len(sink.delivered) == 1 and dead == []
        assert d.metrics()["sinks"]["sre.scripted"] | {"breaker": None} == {
            "sent": 1, "retried": 2, "dead_lettered": 0, "duplicates": 0, "breaker": None, "breaker_opened": 0}

    async def test_exhausted_retries_go_to_dead_letter_with_the_last_error(self, new_notification):
        """A sink failing every try is dead-lettered after max_attempts, with the reason and the notification."""
        sink, dead = ScriptedSink(then=RetryableDeliveryError("upstream 502")), DeadLetters()
        note = new_notification(2)
        d = _delivery({"sre": [sink]}, dead, max_attempts=4)
        assert await d.submit(note) == {"sre.scripted": "dead_lettered"}
        assert len(sink.calls) == 4
        [record] = dead
        assert record["reason"] == "gave up after 4 tries: upstream 502"
        assert record["sink"] == "sre.scripted" and record["dedup_key"] == note.dedup_key
        assert record["notification"]["alerts"][0]["fingerprint"] == note.alerts[0].fingerprint

    async def test_retry_after_is_honoured(self, new_notification):
        """A 429 asking for 0.3 s delays the next try by at least that, whatever the backoff."""
        sink, dead = ScriptedSink([RetryAfter("429", retry_after_s=0.3)]), DeadLetters()
        await _delivery({"sre": [sink]}, dead).submit(new_notification(3))
        (t0, _), (t1, _) = sink.calls
        assert t1 - t0 >= 0.3 and dead == []

    async def test_slow_sink_times_out_and_is_retried(self, new_notification):
        """A send longer than attempt_timeout_s counts as a retryable failure."""
        sink, dead = ScriptedSink(delay_s=0.5), DeadLetters()
        d = _delivery({"sre": [sink]}, dead, attempt_timeout_s=0.05, max_attempts=2)
        assert await d.submit(new_notification(4)) == {"sre.scripted": "dead_lettered"}
        assert len(sink.calls) == 2 and "gave up after 2 tries" in dead[0]["reason"]

    def test_backoff_is_exponential_with_full_jitter(self):
        """Without jitter: base * 2^(n-1) capped; with jitter: uniform in [0, that]."""
        fixed = Delivery({}, dead_letter=DeadLetters(), backoff_base_s=0.5, backoff_max_s=3.0, jitter=False)
        assert [fixed._backoff(n, None) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
        jittered = Delivery({}, dead_letter=DeadLetters(), backoff_base_s=0.5, backoff_max_s=3.0,
                            rng=random.Random(7))
        samples = [jittered._backoff(3, None) for _ in range(2000)]
        assert 0.0 <= min(samples) < 0.1 and 1.9 < max(samples) <= 2.0
        assert 0.9 < sum(samples) / len(samples) < 1.1
        assert fixed._backoff(1, 10.0) == 10.0


@pytest.fixture
def unreachable_url(unused_port) -> str:
    return f"http://127.0.0.1:{unused_port}/v2/enqueue"


class TestDeadLetter:
    async def test_permanent_http_error_goes_to_dead_letter_with_reason(self, http_server, new_notification):
        """A real receiver answering 422 is not retried: one try, dead letter naming the answer."""
        tries = []

        async def reject(request: web.Request) -> web.Response:
            tries.append(request.headers[IDEMPOTENCY_HEADER])
            return web.Response(status=422, text="unknown field 'alerts'")

        server = await http_server(reject)
        dead = DeadLetters()
        sink = WebhookSink(WebhookSinkConfig(url=f"{server.url}/hook", secret="k"))
        d = _delivery({"sre": [sink]}, dead)
        note = new_notification(5)
        try:
            assert await d.submit(note) == {"sre.webhook": "dead_lettered"}
        finally:
            await d.close()
        assert tries == [note.dedup_key]
        [record] = dead
        assert record["reason"] == "permanent: webhook answered 422: unknown field 'alerts'"
        assert record["attempts"] == 1 and record["receiver"] == "sre"
        assert d.metrics()["totals"]["dead_lettered"] == 1

    async def test_unencodable_payload_is_dead_lettered(self, unreachable_url, new_alert, new_notification):
        """A NaN score cannot be sent as JSON: a permanent error, not a crash or a retry loop."""
        from aiops.alerting.sinks.pagerduty import PagerdutySink, PagerdutySinkConfig

        alert = new_alert(5)
        alert.score = float("nan")
        dead = DeadLetters()
        d = _delivery({"sre": [PagerdutySink(PagerdutySinkConfig(routing_key="k", url=unreachable_url))]}, dead)
        try:
            assert await d.submit(new_notification(5, alerts=[alert])) == {"sre.pagerduty": "dead_lettered"}
        finally:
            await d.close()
        assert "payload is not valid JSON" in dead[0]["reason"] and dead[0]["attempts"] == 1

    async def test_one_failing_sink_does_not_hold_back_the_others(self, new_notification):
        """Per sink: the good one delivers, the bad one is dead-lettered; outcomes say which."""
        good, bad, dead = ScriptedSink(), ScriptedSink(then=PermanentDeliveryError("400 bad")), DeadLetters()
        bad.kind = "bad"
        d = _delivery({"sre": [good, bad]}, dead)
        assert await d.submit(new_notification(6)) == {"sre.scripted": "sent", "sre.bad": "dead_lettered"}
        assert [r["sink"] for r in dead] == ["sre.bad"]

    async def test_unknown_receiver_is_dead_lettered(self, new_notification):
        dead = DeadLetters()
        assert await _delivery({"sre": [ScriptedSink()]}, dead).submit(new_notification(7, receiver="dba")) == {}
        assert dead[0]["reason"] == "no sinks for receiver 'dba'"

    async def test_failing_dead_letter_makes_submit_raise(self, new_notification):
        """If the hand-off itself fails, submit raises so the caller does not commit its offset."""
        async def broken(record: bytes) -> None:
            raise ConnectionError("dead-letter topic unavailable")

        d = _delivery({"sre": [ScriptedSink(then=PermanentDeliveryError("400"))]}, broken)
        with pytest.raises(ConnectionError):
            await d.submit(new_notification(8))

    async def test_unexpected_sink_bug_is_dead_lettered_not_raised(self, new_notification):
        dead = DeadLetters()
        d = _delivery({"sre": [ScriptedSink(then=KeyError("oops"))]}, dead)
        assert await d.submit(new_notification(9)) == {"sre.scripted": "dead_lettered"}
        assert dead[0]["reason"].startswith("unexpected KeyError")


class TestCircuitBreaker:
    async def test_open_breaker_holds_sends_then_one_probe_closes_it(self, new_notification):
        """After the threshold, no sends until reset; then one probe; on success all waiting ones go."""
        sink, dead = ScriptedSink([RetryableDeliveryError("down")] * 3), DeadLetters()
        d = _delivery({"sre": [sink]}, dead, breaker_threshold=3, breaker_reset_s=0.4, max_attempts=10)
        first = asyncio.create_task(d.submit(new_notification(10)))
        await asyncio.sleep(0.15)
        assert d.metrics()["sinks"]["sre.scripted"]["breaker"] == "open"
        others = [asyncio.create_task(d.submit(new_notification(i))) for i in range(11, 16)]
        await asyncio.sleep(0.1)
        assert len(sink.calls) == 3, "nothing is sent while the breaker is open"
        results = await asyncio.gather(first, *others)
        assert all(r == {"sre.scripted": "sent"} for r in results) and dead == []
        opened_at = sink.calls[2][0]
        assert sink.calls[3][0] - opened_at >= 0.35, "the probe waits for breaker_reset_s"
        assert len(sink.delivered) == 6
        assert d.metrics()["sinks"]["sre.scripted"]["breaker"] == "closed"
        assert d.metrics()["sinks"]["sre.scripted"]["breaker_opened"] == 1

    async def test_outage_longer_than_max_wait_is_dead_lettered(self, new_notification):
        """Waiting on an open breaker is bounded by max_wait_s; then the dead letter says why."""
        sink, dead = ScriptedSink(then=RetryableDeliveryError("refused")), DeadLetters()
        d = _delivery({"sre": [sink]}, dead, breaker_threshold=1, breaker_reset_s=0.2, max_wait_s=0.7,
                      max_attempts=100)
        assert await d.submit(new_notification(17)) == {"sre.scripted": "dead_lettered"}
        assert dead[0]["reason"].startswith(("sink unavailable for 0.7s: refused", "not delivered in 0.7s: refused"))
        assert 2 <= len(sink.calls) <= 5

    async def test_breaker_state_machine(self):
        """closed -> open -> half-open (a single probe) -> open again on a failed probe."""
        now = [0.0]
        b = CircuitBreaker(threshold=2, reset_s=10.0, clock=lambda: now[0])
        b.record_failure()
        assert b.state == "closed"
        b.record_failure()
        assert b.state == "open"
        waiting = asyncio.create_task(b.admit())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        now[0] = 10.0
        b._notify()
        assert await asyncio.wait_for(waiting, 1) is True and b.state == "half_open"
        second = asyncio.create_task(b.admit())
        await asyncio.sleep(0.05)
        assert not second.done(), "only one probe at a time"
        b.record_failure()
        assert b.state == "open"
        now[0] = 20.0
        b._notify()
        assert await asyncio.wait_for(second, 1) is True
        b.record_success()
        assert b.state == "closed" and await b.admit() is False


class TestConcurrency:
    async def test_sends_per_sink_are_limited_to_max_in_flight(self, new_notification):
        """Ten submissions at once reach a slow sink at most two at a time, and all arrive."""
        active, peak = [0], [0]

        class Slow(ScriptedSink):
            async def send(self, notification) -> None:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                await asyncio.sleep(0.02)
                active[0] -= 1
                await super().send(notification)

        sink = Slow()
        d = _delivery({"sre": [sink]}, DeadLetters(), max_in_flight=2)
        await asyncio.gather(*(d.submit(new_notification(i)) for i in range(50, 60)))
        assert peak[0] == 2 and len(sink.delivered) == 10


class TestIdempotence:
    async def test_concurrent_and_repeated_submissions_send_once(self, new_notification):
        """The same dedup key submitted 5 times at once and again later reaches the sink once."""
        sink, dead = ScriptedSink(delay_s=0.05), DeadLetters()
        d = _delivery({"sre": [sink]}, dead)
        note = new_notification(20)
        results = await asyncio.gather(*(d.submit(note) for _ in range(5)))
        results.append(await d.submit(note))
        assert sorted(r["sre.scripted"] for r in results) == ["duplicate"] * 5 + ["sent"]
        assert sink.delivered == [note.dedup_key]

    async def test_state_survives_a_restart_and_is_bounded(self, new_notification):
        """export_state/load_state keep delivered keys across instances; only dedup_window are kept."""
        sink, dead = ScriptedSink(), DeadLetters()
        d = _delivery({"sre": [sink]}, dead, dedup_window=3)
        notes = [new_notification(i) for i in range(30, 35)]
        for note in notes:
            await d.submit(note)
        state = json.loads(json.dumps(d.export_state()))
        assert [k for k, _ in state["delivered"]["sre.scripted"]] == [n.dedup_key for n in notes[-3:]]
        again = ScriptedSink()
        restarted = _delivery({"sre": [again]}, dead, dedup_window=3)
        restarted.load_state(state)
        for note in notes[2:] + notes[:2]:
            await restarted.submit(note)
        assert again.delivered == [n.dedup_key for n in notes[:2]]

    async def test_new_state_of_a_group_is_a_new_key(self, new_alert, new_notification):
        """Resolving changes the dedup key, so the resolved notification is sent."""
        sink = ScriptedSink()
        d = _delivery({"sre": [sink]}, DeadLetters())
        await d.submit(new_notification(40, alerts=[new_alert(40)]))
        await d.submit(new_notification(40, alerts=[new_alert(40, status="resolved")]))
        assert len(set(sink.delivered)) == 2


def test_config_builds_a_delivery():
    """DeliveryConfig holds every tuning knob and rejects unknown ones."""
    d = Delivery.from_config({"sre": [ScriptedSink()]}, DeliveryConfig(max_attempts=3), dead_letter=DeadLetters())
    assert d.max_attempts == 3
    with pytest.raises(ValueError):
        DeliveryConfig(max_attemps=3)
