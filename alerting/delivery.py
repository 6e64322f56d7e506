"""Reliable delivery of notifications to sinks: retries, circuit breakers, dedup, dead letter.

``await Delivery.submit(notification)`` returns only once the notification is
durably handed off for every sink of its receiver: delivered, already
delivered before (same dedup key), or written to the dead-letter callable
with the reason. A worker commits its offset after ``submit`` returns; if
the dead-letter callable itself fails, ``submit`` raises and the offset must
not be committed.

Two budgets bound a submission:

* ``max_attempts`` counts failed tries while the sink's breaker is closed,
  i.e. while the sink otherwise works: a notification the sink keeps failing
  on goes to the dead letter. The failure that opens the breaker says the
  sink is down, not that the notification is bad: it is not counted.
* ``max_wait_s`` bounds the whole submission; while a sink is down (breaker
  open or probing), submissions wait for it without spending attempts, so an
  outage shorter than ``max_wait_s`` loses and dead-letters nothing, and a
  notification is dead-lettered for an outage only once ``max_wait_s`` has
  passed.

Retries sleep with exponential backoff and full jitter, at least as long as a
``Retry-After`` the receiver gave.

>>> import asyncio, structlog.testing
>>> from aiops.alerting.alert import Alert, Notification
>>> class Flaky:
...     kind = "flaky"
...     def __init__(self): self.calls, self.got = 0, []
...     async def send(self, n):
...         self.calls += 1
...         if self.calls == 1:
...             raise RetryableDeliveryError("503")
...         self.got.append(n.dedup_key)
...     async def close(self): pass
>>> async def lost(record): print("dead letter", record)
>>> sink = Flaky()
>>> d = Delivery({"sre": [sink]}, dead_letter=lost, backoff_base_s=0.001)
>>> n = Notification("sre", "g", {}, [Alert.firing(labels={"a": "1"}, annotations={}, starts_at=0.0,
...                                                severity="error", score=0.9)])
>>> with structlog.testing.capture_logs() as logs:
...     asyncio.run(d.submit(n)), asyncio.run(d.submit(n)), sink.calls, len(sink.got)
({'sre.flaky': 'sent'}, {'sre.flaky': 'duplicate'}, 2, 1)
>>> [(e["event"], e["error"]) for e in logs]
[('delivery.retry', '503')]
>>> d.metrics()["sinks"]["sre.flaky"]["retried"]
1
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from aiops.alerting.alert import Notification
from aiops.alerting.sinks.base import Sink
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError

log = structlog.get_logger(__name__)

BreakerState = Literal["closed", "open", "half_open"]
Outcome = Literal["sent", "duplicate", "dead_lettered"]
DeadLetter = Callable[[bytes], Awaitable[None]]


class DeliveryConfig(BaseModel):
    """Settings of ``Delivery`` (everything but the sinks and the dead-letter callable)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(5, ge=1, description="failed tries on a working sink before dead-lettering")
    backoff_base_s: float = Field(0.5, gt=0, description="wait before the first retry, doubled per attempt")
    backoff_max_s: float = Field(30.0, gt=0, description="longest wait between retries")
    jitter: bool = Field(True, description="full jitter: sleep uniform(0, backoff)")
    breaker_threshold: int = Field(5, ge=1, description="consecutive failures that open a sink's breaker")
    breaker_reset_s: float = Field(15.0, gt=0, description="time open before one probe is let through")
    dedup_window: int = Field(50_000, ge=0, description="delivered dedup keys remembered per sink")
    max_in_flight: int = Field(32, ge=1, description="concurrent sends per sink (no burst after an outage)")
    attempt_timeout_s: float = Field(30.0, gt=0, description="longest single send")
    max_wait_s: float = Field(900.0, gt=0, description="longest a submission waits before dead-lettering")
    retry_after_max_s: float = Field(300.0, gt=0, description="cap on a receiver's Retry-After")


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures; after ``reset_s`` one probe (half-open).

    >>> import structlog.testing
    >>> b = CircuitBreaker(threshold=2, reset_s=60.0, clock=lambda: 0.0)
    >>> with structlog.testing.capture_logs() as logs:
    ...     b.record_failure(); print(b.state)
    ...     b.record_failure(); print(b.state)
    ...     b.record_success(); print(b.state)
    closed
    open
    closed
    >>> [e["state"] for e in logs]
    ['open', 'closed']
    """

    def __init__(self, *, threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self.clock = clock
        self.state: BreakerState = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.opened_count = 0
        self._probing = False
        self._changed = asyncio.Event()

    async def admit(self) -> bool:
        """Wait until a call may go; True when that call is the half-open probe."""
        while True:
            if self.state == "closed":
                return False
            if self.state == "open":
                wait = self.opened_at + self.reset_s - self.clock()
                if wait > 0:
                    await self._wait_change(wait)
                    continue
                self._set("half_open")
            if not self._probing:
                self._probing = True
                return True
            await self._wait_change(None)

    def record_success(self) -> None:
        if self.state == "closed" and not self.failures and not self._probing:
            return
        self.failures = 0
        self._probing = False
        self._set("closed")

    def record_failure(self) -> None:
        self.failures += 1
        if self.state == "half_open" or (self.state == "closed" and self.failures >= self.threshold):
            self.opened_at = self.clock()
            self.opened_count += 1
            self._probing = False
            self._set("open")

    def release_probe(self) -> None:
        """The probe was abandoned (cancelled): let another caller probe."""
        if self._probing:
            self._probing = False
            self._notify()

    def _set(self, state: BreakerState) -> None:
        if state != self.state:
            log.info("delivery.breaker", state=state, failures=self.failures)
            self.state = state
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass


@dataclass(slots=True)
class SinkCounters:
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    duplicates: int = 0


class _Slot:
    """One sink of one receiver and its delivery state."""

    def __init__(self, sink_id: str, sink: Sink, breaker: CircuitBreaker, max_in_flight: int) -> None:
        self.id = sink_id
        self.gate = asyncio.Semaphore(max_in_flight)
        self.sink = sink
        self.breaker = breaker
        self.delivered: OrderedDict[str, float] = OrderedDict()
        self.inflight: dict[str, asyncio.Future[Outcome]] = {}
        self.counters = SinkCounters()


def notification_dead_letter(notification: Notification, *, sink_id: str, reason: str, attempts: int) -> bytes:
    """The dead-letter payload: why, where, and the whole notification to replay it."""
    return json.dumps({
        "kind": "notification", "reason": reason, "sink": sink_id, "receiver": notification.receiver,
        "dedup_key": notification.dedup_key, "attempts": attempts, "failed_at": time.time(),
        "notification": notification.to_dict(),
    }, sort_keys=True).encode()


def sink_ids(receiver: str, sinks: list[Sink]) -> list[str]:
    """Stable ids ``receiver.name`` (``#i`` appended for repeated names), used in metrics and state."""
    ids: list[str] = []
    for i, sink in enumerate(sinks):
        config = getattr(sink, "config", None)
        name = getattr(config, "name", None) or getattr(sink, "kind", type(sink).__name__.lower())
        sid = f"{receiver}.{name}"
        ids.append(sid if sid not in ids else f"{sid}#{i}")
    return ids


class Delivery:
    """Sends each notification to every sink of its receiver, never losing one."""

    def __init__(self, sinks: dict[str, list[Sink]], *, dead_letter: DeadLetter, max_attempts: int = 5,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, jitter: bool = True,
                 breaker_threshold: int = 5, breaker_reset_s: float = 15.0, dedup_window: int = 50_000,
                 max_in_flight: int = 32, attempt_timeout_s: float = 30.0, max_wait_s: float = 900.0,
                 retry_after_max_s: float = 300.0,
                 rng: random.Random | None = None) -> None:
        self.dead_letter = dead_letter
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.jitter = jitter
        self.dedup_window = dedup_window
        self.attempt_timeout_s = attempt_timeout_s
        self.max_wait_s = max_wait_s
        self.retry_after_max_s = retry_after_max_s
        self.rng = rng or random.Random()
        self.unroutable = 0
        self._slots: dict[str, list[_Slot]] = {
            receiver: [_Slot(sid, sink, CircuitBreaker(threshold=breaker_threshold, reset_s=breaker_reset_s),
                             max_in_flight)
                       for sid, sink in zip(sink_ids(receiver, list(receiver_sinks)), receiver_sinks)]
            for receiver, receiver_sinks in sinks.items()
        }

    @classmethod
    def from_config(cls, sinks: dict[str, list[Sink]], config: DeliveryConfig, *,
                    dead_letter: DeadLetter) -> Delivery:
        return cls(sinks, dead_letter=dead_letter, **config.model_dump())

    async def submit(self, notification: Notification) -> dict[str, Outcome]:
        """Deliver or dead-letter for every sink of the receiver; the outcome per sink id."""
        slots = self._slots.get(notification.receiver)
        if not slots:
            self.unroutable += 1
            await self.dead_letter(notification_dead_letter(notification, sink_id="", attempts=0,
                                                      reason=f"no sinks for receiver {notification.receiver!r}"))
            return {}
        if len(slots) == 1:
            return {slots[0].id: await self._deliver(slots[0], notification)}
        results = await asyncio.gather(*(self._deliver(s, notification) for s in slots), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return {slot.id: result for slot, result in zip(slots, results)}  # type: ignore[misc]

    async def _deliver(self, slot: _Slot, notification: Notification) -> Outcome:
        key = notification.dedup_key
        while key in slot.inflight:
            if await asyncio.shield(slot.inflight[key]) == "sent":
                break
        if key in slot.delivered:
            slot.delivered.move_to_end(key)
            slot.counters.duplicates += 1
            return "duplicate"
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        slot.inflight[key] = done
        try:
            outcome = await self._attempts(slot, notification, key)
            done.set_result(outcome)
            return outcome
        finally:
            slot.inflight.pop(key, None)
            if not done.done():
                done.set_result("dead_lettered")

    async def _attempts(self, slot: _Slot, notification: Notification, key: str) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        attempts = tries = 0
        last_error = ""
        while True:
            if tries and loop.time() >= deadline:
                return await self._give_up(slot, notification, tries,
                                           f"not delivered in {self.max_wait_s:g}s: {last_error}")
            try:
                probe = (False if slot.breaker.state == "closed"
                         else await asyncio.wait_for(slot.breaker.admit(), max(0.0, deadline - loop.time())))
            except TimeoutError:
                return await self._give_up(slot, notification, tries,
                                           f"sink unavailable for {self.max_wait_s:g}s: {last_error}")
            tries += 1
            try:
                async with slot.gate:
                    await asyncio.wait_for(slot.sink.send(notification), self.attempt_timeout_s)
            except PermanentDeliveryError as exc:
                slot.breaker.record_success()
                return await self._give_up(slot, notification, tries, f"permanent: {exc}")
            except (RetryableDeliveryError, TimeoutError, OSError) as exc:
                last_error = str(exc) or type(exc).__name__
                slot.breaker.record_failure()
                # Only a failure the breaker stays closed after is the notification's own.
                attempts += 0 if probe or slot.breaker.state != "closed" else 1
                if attempts >= self.max_attempts:
                    return await self._give_up(slot, notification, tries,
                                               f"gave up after {tries} tries: {last_error}")
                delay = min(self._backoff(tries, getattr(exc, "retry_after_s", None)),
                            max(0.0, deadline - loop.time()))
                slot.counters.retried += 1
                log.warning("delivery.retry", sink=slot.id, tries=tries, delay_s=round(delay, 3), error=last_error)
                await asyncio.sleep(delay)
                continue
            except asyncio.CancelledError:
                if probe:
                    slot.breaker.release_probe()
                raise
            except Exception as exc:
                log.exception("delivery.sink_failed", sink=slot.id)
                slot.breaker.record_success()
                return await self._give_up(slot, notification, tries, f"unexpected {type(exc).__name__}: {exc}")
            slot.breaker.record_success()
            self._remember(slot, key)
            slot.counters.sent += 1
            return "sent"

    def _backoff(self, tries: int, retry_after_s: float | None) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (tries - 1))
        delay = self.rng.uniform(0.0, ceiling) if self.jitter else ceiling
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.retry_after_max_s))
        return delay

    async def _give_up(self, slot: _Slot, notification: Notification, tries: int, reason: str) -> Outcome:
        await self.dead_letter(notification_dead_letter(notification, sink_id=slot.id, reason=reason, attempts=tries))
        slot.counters.dead_lettered += 1
        log.error("delivery.dead_lettered", sink=slot.id, dedup_key=notification.dedup_key, reason=reason)
        return "dead_lettered"

    def _remember(self, slot: _Slot, key: str) -> None:
        if self.dedup_window <= 0:
            return
        slot.delivered[key] = time.time()
        slot.delivered.move_to_end(key)
        while len(slot.delivered) > self.dedup_window:
            slot.delivered.popitem(last=False)

    def metrics(self) -> dict[str, Any]:
        """Counters per sink id and in total, with each breaker's state."""
        sinks = {s.id: {**asdict(s.counters), "breaker": s.breaker.state, "breaker_opened": s.breaker.opened_count}
                 for slots in self._slots.values() for s in slots}
        totals = {k: sum(v[k] for v in sinks.values()) for k in ("sent", "retried", "dead_lettered", "duplicates")}
        return {"sinks": sinks, "totals": {**totals, "unroutable": self.unroutable}}

    def export_state(self) -> dict[str, Any]:
        """The delivered dedup keys per sink id (oldest first), JSON-ready."""
        return {"version": 1, "delivered": {s.id: [[k, t] for k, t in s.delivered.items()]
                                            for slots in self._slots.values() for s in slots}}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore ``export_state`` output; ids no longer configured are ignored."""
        delivered = state.get("delivered", {}) if isinstance(state, dict) else {}
        for slots in self._slots.values():
            for slot in slots:
                for key, at in delivered.get(slot.id, []):
                    slot.delivered[str(key)] = float(at)
                while len(slot.delivered) > self.dedup_window:
                    slot.delivered.popitem(last=False)

    async def close(self) -> None:
        """Close every sink."""
        for slots in self._slots.values():
            for slot in slots:
                await slot.sink.close()


def build_delivery(receivers: Mapping[str, Sequence[BaseModel | dict[str, Any]]], *, dead_letter: DeadLetter,
                   config: DeliveryConfig | None = None) -> Delivery:
    """A ``Delivery`` whose sinks are built from each receiver's sink configs.

    >>> async def dead_letter(record): pass
    >>> d = build_delivery({"demo": [{"type": "console"}]}, dead_letter=dead_letter,
    ...                    config=DeliveryConfig(max_attempts=2))
    >>> list(d.metrics()["sinks"]), d.max_attempts
    (['demo.console'], 2)
    """
    from aiops.alerting.sinks.registry import build_sink

    sinks = {receiver: [build_sink(c) for c in configs] for receiver, configs in receivers.items()}
    return Delivery.from_config(sinks, config or DeliveryConfig(), dead_letter=dead_letter)
