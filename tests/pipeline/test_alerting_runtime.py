"""AlertingRuntime alone: items from the worker's outbox in, replies and a real signed webhook notification out.

The worker's side is played by a reader of the runtime's own outbox that keeps what it was asked to write.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from aiops.alerting.config import AlertingConfig
from aiops.alerting.outbox import (
    AnomalyRecords,
    ExportState,
    FeedbackRecords,
    Record,
    RestoreState,
    SaveState,
)
from aiops.detectors.core.errors import InputError
from aiops.pipeline.alerting_bridge import AlertingRuntime
from aiops.pipeline.config import Settings
from tests.alerting_policy.builders import anomaly
from tests.support.webhook_receiver import SignedWebhookReceiver

SECRET = "receiver-shared-secret"


@pytest.fixture
def receiver():
    r = SignedWebhookReceiver(SECRET)
    yield r
    r.close()


def runtime_for(url: str, **delivery) -> AlertingRuntime:
    config = {"route": {"receiver": "hook", "group_by": ["series_id"], "group_wait_s": 0, "group_interval_s": 1},
              "policy": {"resolve_after_s": 1},
              "receivers": [{"name": "hook", "sinks": [{"type": "webhook", "url": url, "secret": SECRET}]}],
              "delivery": {"backoff_base_s": 0.01, "backoff_max_s": 0.02, **delivery}}
    return AlertingRuntime(Settings(alerting=AlertingConfig.model_validate(config)))


class WorkerSide:
    """Reads the runtime's outbox as the worker does, keeping each item, and settles it."""

    def __init__(self, runtime: AlertingRuntime) -> None:
        self.items: list = []
        self.task = asyncio.ensure_future(self._read(runtime))

    async def _read(self, runtime: AlertingRuntime) -> None:
        while True:
            parcel = await runtime.outbox.get()
            self.items.append(parcel.item)
            parcel.settle()

    def records(self, kind: str) -> list[dict]:
        return [json.loads(i.value) for i in self.items if isinstance(i, Record) and i.kind == kind]


@pytest.fixture
async def running():
    """Start a runtime's ``serve`` and a worker side for it; stop both at the end."""
    tasks = []

    def start(runtime: AlertingRuntime) -> WorkerSide:
        tasks.append(asyncio.ensure_future(runtime.serve()))
        side = WorkerSide(runtime)
        tasks.append(side.task)
        return side

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until(predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


class TestAnomaliesToNotifications:
    async def test_an_anomaly_pages_the_webhook_and_its_episode_end_resolves_it(self, receiver, running):
        """Firing, then resolved once the episode ended; the state is asked to be saved after each notification."""
        runtime = runtime_for(receiver.url)
        side = running(runtime)
        spike = anomaly("web-1", time=time.time()).to_dict()
        assert await runtime.inbox.ask(AnomalyRecords([spike])) == []
        await runtime.tick()
        await until(lambda: len(receiver.received) == 1)
        [note] = receiver.received
        assert note["status"] == "firing" and receiver.bad_signatures == 0
        assert [a["labels"]["series_id"] for a in note["alerts"]] == [spike["series_id"]]
        assert side.items[:1] == [SaveState()]  # asked before the tick went on
        assert (runtime.received, runtime.notifications, runtime.alerts_raised) == (1, 1, 1)

        end = {"kind": "episode_end", "series_id": spike["series_id"], "time": spike["time"] + 5, "reason": "returned"}
        assert await runtime.inbox.ask(AnomalyRecords([end])) == []
        await asyncio.sleep(1.1)  # the group's interval
        await runtime.tick()
        await until(lambda: len(receiver.received) == 2)
        assert receiver.received[1]["status"] == "resolved"
        assert side.items.count(SaveState()) == 2

    async def test_records_the_policy_refuses_come_back_as_dead_letters(self, receiver, running):
        runtime = runtime_for(receiver.url)
        running(runtime)
        good = anomaly("web-2", time=time.time()).to_dict()
        dead = await runtime.inbox.ask(AnomalyRecords([{"not": "an anomaly"}, good,
                                                       {"kind": "episode_end", "series_id": "x"}]))
        letters = [json.loads(d.value) for d in dead]
        assert [d["stage"] for d in letters] == ["alert", "alert"]
        assert "not an anomaly record" in letters[0]["reason"] and "episode_end needs" in letters[1]["reason"]
        assert all(isinstance(d, Record) and d.kind == "dead_letter" for d in dead)
        assert [a.labels["series_id"] for a in runtime.service.policy.active_alerts()] == [good["series_id"]]

    async def test_a_sink_that_never_answers_ends_as_a_dead_letter_for_the_worker(self, running):
        """Delivery gives up after its attempts; the dead letter goes through the runtime's outbox."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{s.getsockname()[1]}/hook"  # nothing listens once the socket is closed
        runtime = runtime_for(closed, max_attempts=2)
        side = running(runtime)
        await runtime.inbox.ask(AnomalyRecords([anomaly("web-3", time=time.time()).to_dict()]))
        await runtime.tick()
        await until(lambda: side.records("dead_letter"))
        [letter] = side.records("dead_letter")
        assert letter["kind"] == "notification" and letter["sink"] == "hook.webhook" and letter["attempts"] == 2
        assert "gave up after 2 tries" in letter["reason"] and carries_the_notification(letter)
        assert [i.stage for i in side.items if isinstance(i, Record)] == ["delivery"]


def carries_the_notification(letter: dict) -> bool:
    """The dead letter carries the whole notification, to replay it."""
    return [a["labels"]["host"] for a in letter["notification"]["alerts"]] == ["web-3"]


class TestStateAndFeedback:
    async def test_state_exported_through_the_outbox_restores_another_runtime(self, receiver, running):
        first, second = runtime_for(receiver.url), runtime_for(receiver.url)
        running(first)
        running(second)
        await first.inbox.ask(AnomalyRecords([anomaly("web-4", time=time.time()).to_dict()]))
        await first.tick()
        blob = await first.inbox.ask(ExportState())
        assert await second.inbox.ask(ExportState()) != blob
        assert await second.inbox.ask(RestoreState(blob)) is None
        assert [a.fingerprint for a in second.service.policy.active_alerts()] == \
            [a.fingerprint for a in first.service.policy.active_alerts()] != []

    async def test_a_bad_state_is_refused_and_the_runtime_keeps_serving(self, receiver, running):
        runtime = runtime_for(receiver.url)
        running(runtime)
        before = await runtime.inbox.ask(ExportState())
        with pytest.raises(InputError):
            await runtime.inbox.ask(RestoreState(b"not a state"))
        with pytest.raises(TypeError):
            await runtime.inbox.ask("not an item")
        assert await runtime.inbox.ask(ExportState()) == before

    async def test_feedback_is_remembered_and_routed_and_records_without_series_are_dead_letters(self, receiver,
                                                                                                running):
        runtime = runtime_for(receiver.url)
        running(runtime)
        record = {"id": "f1", "fingerprint": "fp", "series_id": "cpu|host=a", "anomaly_ids": ["a1"],
                  "anomaly_times": [100.0], "verdict": "false_positive", "who": "sre@example.com", "when": 200.0}
        routing = await runtime.inbox.ask(FeedbackRecords([record, {"verdict": "false_positive"}, "text"]))
        assert routing.accepted == [record]
        assert [json.loads(d.value)["stage"] for d in routing.dead_letters] == ["feedback", "feedback"]
        assert {d.stage for d in routing.dead_letters} == {"feedback"}
        assert runtime.service.policy.feedback.suppresses("fp", now=210.0)  # the false positive mutes repeats
