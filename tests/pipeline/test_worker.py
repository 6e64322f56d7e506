"""The Worker wires the stages and talks to alerting only through the outboxes; run here without a broker.

Its topics, producer and state reader are in memory (``memory_kafka``); the alerting runtime is real and runs
beside it, as ``aiops.pipeline.runner`` starts it. The same paths against a real broker: tests/integration.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
import time

import pytest
from faust.types import TP

from aiops.detectors.core import state_codec
from aiops.detectors.core.shapes import Event
from aiops.pipeline.alerting_io import drain_alerting_outbox
from aiops.pipeline.app import ALERTING_STATE_KEY, Worker
from aiops.pipeline.config import Settings
from aiops.pipeline.event_codec import encode_events
from aiops.pipeline.runner import worker_with_alerting
from aiops.pipeline.stages import ScoreStage
from aiops.pipeline.topics import partition_for
from tests.alerting_policy.builders import anomaly
from tests.pipeline.memory_kafka import MemoryKafka, consumed
from tests.pipeline.series import SID, T0, series, two_spikes
from tests.support.webhook_receiver import SignedWebhookReceiver

SECRET = "receiver-shared-secret"
PARTITIONS = 2


def settings_for(url: str | None = None) -> Settings:
    alerting: dict = {"route": {"group_by": ["series_id"], "group_wait_s": 0}}
    if url:
        alerting["route"]["receiver"] = "hook"
        alerting["receivers"] = [{"name": "hook", "sinks": [{"type": "webhook", "url": url, "secret": SECRET}]}]
    return Settings.model_validate({"kafka": {"partitions": PARTITIONS}, "alerting": alerting})


@pytest.fixture
async def node():
    """``node(kafka, url)``: a worker and its alerting runtime on shared in-memory Kafka, both sides running."""
    tasks = []

    def start(kafka: MemoryKafka, url: str | None = None, *, serve: bool = True):
        worker, runtime = worker_with_alerting(settings_for(url))
        kafka.install(worker)
        tasks.append(asyncio.ensure_future(drain_alerting_outbox(worker, worker.link.alerting_outbox)))
        if serve:
            tasks.append(asyncio.ensure_future(runtime.serve()))
        return worker, runtime

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def assignment(worker: Worker, *, alerting: bool = True) -> set[TP]:
    t = worker.settings.topics
    return {TP(t.events, p) for p in range(PARTITIONS)} | ({TP(t.anomalies, 0)} if alerting else set())


def events_batch(worker: Worker, events: list[Event], offset: int = 0):
    return consumed(worker.settings.topics.events, [encode_events(events)], partition=partition_for(SID, PARTITIONS),
                    first_offset=offset)


def scored(worker: Worker) -> list[tuple[float, int]]:
    """(time, episode) of every anomaly the worker wrote to the anomalies topic."""
    out = []
    for value in worker.anomalies_topic.values:
        record = json.loads(value)
        if record.get("kind") != "episode_end":
            out.append((record["time"], record["episode"]))
    return out


class TestScoringAndState:
    async def test_scoring_waits_for_the_restore_and_continues_from_the_saved_state(self, node):
        """A second worker's batch waits until its partitions' state is read back, then scores as the first would
        have: the same anomalies as one stage that saw every point."""
        values = two_spikes()
        kafka = MemoryKafka()
        first, _ = node(kafka)
        await first._on_assigned(first.app, assignment(first, alerting=False))
        await first.score_and_forward(events_batch(first, series(values[:320])))
        assert first.stats.points_scored == 320 and first.stats.anomalies > 0
        assert await first.snapshot_state() == 1

        kafka.topic(first.settings.topics.anomalies).records.clear()
        second, _ = node(kafka)
        second._restored.clear()  # as on a fresh start: nothing is scored before an assignment's restore
        pending = asyncio.ensure_future(second.score_and_forward(events_batch(second, series(values[320:], start=320), 1)))
        await asyncio.sleep(0.1)
        assert not pending.done() and second.stats.points_scored == 0
        await second._on_assigned(second.app, assignment(second, alerting=False))
        await asyncio.wait_for(pending, 30)
        assert second.stats.state_records_loaded == 1 and second.ready

        reference = ScoreStage(second.settings)
        reference.process(series(values[:320]), now=0.0)
        expected = [(a.time, a.episode) for a in reference.process(series(values[320:], start=320), now=0.0).anomalies]
        assert scored(second) == expected and expected

    async def test_a_small_batch_is_scored_on_the_event_loop_and_a_large_one_in_a_thread(self):
        """Up to ``worker.inline_score_max_events`` events a batch are scored where the loop runs, more in another
        thread; the anomalies are the same either way."""
        settings = settings_for().model_copy(deep=True)
        settings.worker.inline_score_max_events = 100
        worker, _ = worker_with_alerting(settings)
        MemoryKafka().install(worker)
        await worker._on_assigned(worker.app, assignment(worker, alerting=False))
        scorer = worker.ensure_scorer()
        threads: list[tuple[int, int]] = []
        process = scorer.process

        def spied(events, *, now):
            threads.append((len(events), threading.get_ident()))
            return process(events, now=now)

        scorer.process = spied  # type: ignore[method-assign]
        values = two_spikes()
        await worker.score_and_forward(events_batch(worker, series(values[:100])))
        await worker.score_and_forward(events_batch(worker, series(values[100:], start=100), 1))
        loop = threading.get_ident()
        assert [(n, ident == loop) for n, ident in threads] == [(100, True), (300, False)]

        reference = ScoreStage(settings)
        reference.process(series(values[:100]), now=0.0)
        expected = [(a.time, a.episode) for a in reference.process(series(values[100:], start=100), now=0.0).anomalies]
        assert scored(worker) == expected and expected

    async def test_a_batch_of_a_partition_given_away_is_not_scored(self, node):
        kafka = MemoryKafka()
        worker, _ = node(kafka)
        other = {TP(worker.settings.topics.events, p) for p in range(PARTITIONS)
                 if p != partition_for(SID, PARTITIONS)}
        await worker._on_assigned(worker.app, other)
        await worker.score_and_forward(events_batch(worker, series(two_spikes())))
        assert worker.stats.points_scored == 0 and kafka.topic(worker.settings.topics.anomalies).records == []

    async def test_a_record_that_is_not_an_event_batch_is_a_dead_letter(self, node):
        kafka = MemoryKafka()
        worker, _ = node(kafka)
        await worker._on_assigned(worker.app, assignment(worker))
        batch = consumed(worker.settings.topics.events, [b"\x00 not a batch"], partition=partition_for(SID, 2),
                         first_offset=9)
        await worker.score_and_forward(batch)
        [dead] = [json.loads(v) for v in worker.deadletter_topic.values]
        assert (dead["stage"], dead["offset"]) == ("score", 9) and "not an event batch" in dead["reason"]


class TestAlertingThroughTheOutbox:
    async def test_a_batch_is_handled_and_its_state_durable_before_the_batch_returns(self, node):
        """alert_batch returns (so Faust may commit) only once alerting took the anomalies, the dead letters of the
        records it could not use are sent and the alerting state is flushed to the state topic."""
        kafka = MemoryKafka()
        receiver = SignedWebhookReceiver(SECRET)
        try:
            worker, runtime = node(kafka, receiver.url)
            await worker._on_assigned(worker.app, assignment(worker))
            assert worker.owns_alerting and worker.alerting_restored
            spike = anomaly("web-1", time=time.time()).to_dict()
            batch = consumed(worker.settings.topics.anomalies,
                             [json.dumps(spike).encode(), b"not json", json.dumps({"kind": "nonsense"}).encode()])
            await worker.alert_batch(batch)

            assert runtime.received == 2  # the two JSON records reached the policy
            dead = [json.loads(v) for v in worker.deadletter_topic.values]
            assert [(d["stage"], d["offset"]) for d in dead] == [("alert", 1), ("alert", None)]
            states = [r for r in worker.state_topic.records if r.key == ALERTING_STATE_KEY.encode()]
            assert len(states) == 1 and states[0].flushed
            assert all(r.flushed for r in worker.deadletter_topic.records)

            await runtime.tick()  # notifies; the runtime asks through its outbox that the state be saved again
            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert [a["labels"]["series_id"] for a in receiver.received[0]["alerts"]] == [spike["series_id"]]
            saved = [r for r in worker.state_topic.records if r.key == ALERTING_STATE_KEY.encode()]
            assert len(saved) == 2 and saved[-1].flushed
            assert json.loads(worker.deadletter_topic.values[0])["original_text"] == "not json"
        finally:
            receiver.close()

    async def test_a_worker_that_does_not_own_the_anomalies_partition_hands_nothing_to_alerting(self, node):
        kafka = MemoryKafka()
        worker, runtime = node(kafka)
        await worker._on_assigned(worker.app, assignment(worker, alerting=False))
        spike = json.dumps(anomaly("web-1", time=time.time()).to_dict()).encode()
        await worker.alert_batch(consumed(worker.settings.topics.anomalies, [spike]))
        await worker.snapshot_state()
        assert runtime.received == 0 and not worker.owns_alerting
        assert not [r for r in worker.state_topic.records if r.key == ALERTING_STATE_KEY.encode()]

    async def test_the_alerting_state_is_read_back_before_the_first_batch_and_never_saved_over_before(self, node):
        """The restore goes through the outbox ahead of any batch; until the runtime applied it, nothing is saved."""
        kafka = MemoryKafka()
        first, runtime = node(kafka)
        await first._on_assigned(first.app, assignment(first))
        await first.alert_batch(consumed(first.settings.topics.anomalies,
                                         [json.dumps(anomaly("web-7", time=time.time()).to_dict()).encode()]))
        await runtime.tick()
        fired = [a.fingerprint for a in runtime.service.policy.active_alerts()]
        assert fired

        def saves() -> int:
            return len([r for r in kafka.topic(first.settings.topics.state).records
                        if r.key == ALERTING_STATE_KEY.encode()])

        saved_by_first = saves()
        second, restored = node(kafka, serve=False)  # its runtime does not answer yet
        await second._on_assigned(second.app, assignment(second))
        assert not second.alerting_restored
        await second.snapshot_alerting()
        await second.snapshot_state()
        assert saves() == saved_by_first >= 1  # nothing saved over the state not yet applied
        serving = asyncio.ensure_future(restored.serve())
        try:
            await asyncio.sleep(0.05)
            assert second.alerting_restored
            assert [a.fingerprint for a in restored.service.policy.active_alerts()] == fired
            await second.snapshot_alerting()
            assert saves() == saved_by_first + 1
        finally:
            serving.cancel()

    async def test_a_hostile_alerting_state_is_refused_counted_and_the_worker_goes_on(self, node, tmp_path):
        kafka = MemoryKafka()
        worker, runtime = node(kafka)
        target = tmp_path / "pwned"
        payload = pickle.dumps(_OpensAFile(str(target)))
        partition = worker._alerting_state_partition()
        await kafka.topic(worker.settings.topics.state).send(
            key=ALERTING_STATE_KEY.encode(), value=state_codec.seal(ALERTING_STATE_KEY, payload, None),
            partition=partition)
        await kafka.producer.flush()
        await worker._on_assigned(worker.app, assignment(worker))
        await asyncio.sleep(0.05)
        assert worker.stats.state_records_rejected == 1 and worker.alerting_restored and not target.exists()
        await worker.alert_batch(consumed(worker.settings.topics.anomalies,
                                          [json.dumps(anomaly("web-8", time=time.time()).to_dict()).encode()]))
        assert runtime.received == 1


class _OpensAFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


class TestFeedback:
    async def test_feedback_reaches_the_owner_of_the_series_and_unusable_feedback_is_a_dead_letter(self, node):
        """Feedback read from its topic goes through alerting, then on the events topic to the series' partition,
        where the scorer applies it; a record without a series or for an unknown series is a dead letter."""
        from aiops.pipeline.alerting_io import route_feedback

        kafka = MemoryKafka()
        worker, runtime = node(kafka)
        await worker._on_assigned(worker.app, assignment(worker))
        await worker.score_and_forward(events_batch(worker, series(two_spikes()[:320])))

        def verdict(series_id: str) -> dict:
            return {"id": f"f-{series_id}", "fingerprint": "fp", "series_id": series_id, "anomaly_ids": ["a1"],
                    "anomaly_times": [T0 + 3000.0], "verdict": "false_positive", "who": "sre@example.com",
                    "when": T0 + 3100.0}

        unknown = "cpu|host=never-seen"
        await route_feedback(worker, worker.outbox, [verdict(SID), verdict(unknown), {"verdict": "x"}])
        assert [json.loads(v)["stage"] for v in worker.deadletter_topic.values] == ["feedback"]
        by_partition = {r.partition: json.loads(r.value) for r in worker.events_topic.records}  # controls only
        sent = {item["record"]["series_id"]: partition for partition, items in by_partition.items() for item in items}
        assert sent == {SID: partition_for(SID, PARTITIONS), unknown: partition_for(unknown, PARTITIONS)}
        for partition, items in by_partition.items():
            await worker.score_and_forward(consumed(worker.settings.topics.events, [json.dumps(items).encode()],
                                                    partition=partition, first_offset=50))
        assert worker.stats.feedback_applied >= 1
        dead = [json.loads(v) for v in worker.deadletter_topic.values]
        assert [d["stage"] for d in dead] == ["feedback", "feedback"]
        assert unknown in dead[1]["reason"] and dead[1]["offset"] == 50
