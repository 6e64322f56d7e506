"""The Faust application: thin wiring of the stages onto Kafka topics.

Agents:

- ``normalise_metrics`` / ``normalise_logs``: raw payloads (batched) to event
  batches on the events topic, one record per partition, partitioned by
  series id; rejects to the dead-letter topic with the source coordinates.
- ``score``: event batches of the partitions this worker owns through the
  scoring stage; anomalies to the anomalies topic.
- ``alert``: anomalies to the alert policy and its sinks, through the worker's outbox to the alerting runtime
  (``aiops.alerting.outbox``); ``feedback``: feedback records to the series' owners the same way. The worker
  writes what the runtime's outbox holds (dead letters, audit and feedback records, its state).

No record stops an agent: bad records become dead letters with the reason,
every record written is bounded in size (``worker.max_record_bytes``), and a
batch that fails for a reason not its own is held uncommitted
(``aiops.pipeline.batch_guard``) instead of being skipped.

Per-series state is snapshotted to the compacted state topic on a timer and
when partitions are revoked, and read back for the partitions assigned, so a
restart or a rebalance does not re-warm from zero.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from operator import attrgetter
from typing import Any, Callable

import faust
import structlog

from aiops.alerting.outbox import AlertingLink, AnomalyRecords, ExportState, RestoreState
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event
from aiops.pipeline.alerting_io import apply_feedback_controls, drain_alerting_outbox, json_or_raw, route_feedback
from aiops.pipeline.allocator import keep_large_blocks_mmapped, release_free_memory
from aiops.pipeline.batch_guard import run_guarded
from aiops.pipeline.broker_probe import BrokerProbe
from aiops.pipeline.config import Settings
from aiops.pipeline.consumer_lag import ConsumerLagCollector
from aiops.pipeline.event_codec import decode_batch, event_records
from aiops.pipeline.faust_broker import broker_credentials, broker_urls
from aiops.pipeline.normalise.deadletter import dead_letter_record
from aiops.pipeline.score_writer import score_writer_for
from aiops.pipeline.self_metrics import WorkerMetrics
from aiops.pipeline.stages import (
    NormaliseStage,
    RawMessage,
    ScoredBatch,
    ScoreStage,
    export_series,
    forget_log_state,
    state_series_id,
)
from aiops.pipeline.state_restore import StateRestore, restore_summary
from aiops.pipeline.state_store import read_state
from aiops.pipeline.stats import WorkerStats
from aiops.pipeline.take import take_batches
from aiops.pipeline.topics import partition_for

log = structlog.get_logger(__name__)

#: The alert policy's state (groups, alerts, silences, pending actions) in the state topic.
ALERTING_STATE_KEY = "alerting/policy"
#: Series per state write: what a snapshot holds encoded in memory at once, and what it exports under the state
#: lock, while no batch is scored (about 0.3 ms of CPU a series: a chunk of 1,000 held scoring up for 0.3-0.8 s).
SNAPSHOT_CHUNK = 100
#: Bytes of records normalised or scored at once: a batch of large batched records is taken in slices, so the
#: events decoded from it at any time stay in the tens of MB (a whole batch in a flood decoded to 1M events).
SLICE_BYTES = 4 * 1024 * 1024


class Worker:
    """Holds the Faust app, its topics and the stages; ``build()`` wires the agents.

    With a ``link`` the worker talks to an alerting runtime through its two outboxes (it never holds the runtime):
    ``learn_filter`` is the maintenance windows' say on learning a point, ``alerting_metrics`` what /metrics reads
    of alerting. Without one, anomalies are written to their topic and nothing alerts in this worker.
    """

    def __init__(self, settings: Settings, *, app_id: str | None = None, link: AlertingLink | None = None,
                 learn_filter: Callable[[Event], bool] | None = None,
                 alerting_metrics: Callable[[], Any] | None = None) -> None:
        keep_large_blocks_mmapped()  # detector arrays freed as they grow go back to the system
        self.settings = settings
        self.link = link
        self.outbox = link.worker_outbox if link is not None else None  # what this worker writes for alerting
        self.learn_filter = learn_filter
        self.stats = WorkerStats()
        self.normaliser = NormaliseStage(settings)
        self.metrics = WorkerMetrics(self.stats, guard_stats=self.normaliser.guard.stats, alerting=alerting_metrics,
                                     detectors=lambda: self.scorer.engine.tally if self.scorer is not None else None)
        self._series_counted_at = 0.0
        self.score_writer = score_writer_for(settings.score_output, self.metrics.registry)
        self.scorer: ScoreStage | None = None
        k = settings.kafka
        self.app = faust.App(
            app_id or k.group_id,
            broker=broker_urls(settings),
            broker_credentials=broker_credentials(settings),
            store="memory://",
            topic_partitions=k.partitions,
            topic_replication_factor=k.replication_factor,
            topic_allow_declare=True,
            broker_session_timeout=k.session_timeout_s,
            broker_heartbeat_interval=min(3.0, k.session_timeout_s / 3),
            broker_rebalance_timeout=k.rebalance_timeout_s,
            broker_request_timeout=max(40.0, k.session_timeout_s + 5),
            consumer_auto_offset_reset="earliest",
            web_enabled=False,
            datadir=settings.worker.data_dir,
            producer_linger_ms=5,
            # Back-pressure: an agent has a tenth of a batch of records waiting (Faust's default, 4096 records
            # of up to 1000 events each, held hundreds of MB in a flood); the rest waits in Kafka as lag.
            stream_buffer_maxsize=max(1, settings.worker.batch_size // 10),
        )
        self.app.conf.aiops_fetch_max_wait_ms = k.fetch_max_wait_ms
        self.metrics.registry.register(ConsumerLagCollector(self.app))
        t = settings.topics
        raw = {"value_serializer": "raw", "key_serializer": "raw"}
        self.metrics_topic = self.app.topic(t.metrics, **raw)
        self.logs_topic = self.app.topic(t.logs, **raw)
        self.events_topic = self.app.topic(t.events, partitions=k.partitions, **raw)
        self.anomalies_topic = self.app.topic(t.anomalies, partitions=1, **raw)
        self.deadletter_topic = self.app.topic(t.deadletter, **raw)
        self.state_topic = self.app.topic(t.state, partitions=k.partitions, **raw)
        self.state_key = state_codec.state_key_from_env()  # signs state records when set
        if self.state_key is None:
            log.warning("state.unsigned", why=f"{state_codec.STATE_KEY_ENV} is not set: anyone who can produce to "
                        "the state topic can reset or skew detector state (never run code)")
        self._snapshot_lock = asyncio.Lock()
        self._state_lock = asyncio.Lock()  # the scorer's state: one user at a time
        self.owns_alerting = False
        self.alerting_restored = False  # the alerting state was read back (or there was none): it may be saved
        self._assignments = 0  # a reply to the restore of an older assignment changes nothing
        self._restoring = 0  # restores under way: no snapshot overwrites state not yet read back
        self.ready = False  # partitions assigned and their state restored
        self.broker_probe = BrokerProbe(settings.kafka.confluent())  # /ready: does the broker answer
        # Faust resumes fetching before the assignment's restore is done: no batch is scored or alerted until then.
        self._restored = asyncio.Event()
        self.events_owned: set[int] = set()  # events partitions of the current assignment
        self.read_state = read_state  # the state topic's reader (``aiops.pipeline.state_store``)

    # -- agents -------------------------------------------------------------------

    def build(self) -> faust.App:
        w = self.settings.worker
        app = self.app

        def batches(stream):
            return take_batches(stream, w.batch_size, w.batch_within_s, idle_s=w.batch_idle_s)

        async def normalise(kind: str, stream) -> None:
            async for batch in batches(stream):
                await self.guarded(lambda b: self.normalise_and_forward(kind, b), batch, stage="normalise")

        @app.agent(self.metrics_topic, name="normalise_metrics")
        async def normalise_metrics(stream):
            await normalise("metrics", stream)

        @app.agent(self.logs_topic, name="normalise_logs")
        async def normalise_logs(stream):
            await normalise("logs", stream)

        @app.agent(self.events_topic, name="score")
        async def score(stream):
            async for batch in batches(stream):
                await self.guarded(self.score_and_forward, batch, stage="score")

        @app.agent(self.anomalies_topic, name="alert")
        async def alert(stream):
            async for batch in batches(stream):
                await self.guarded(self.alert_batch, batch, stage="alert")

        @app.timer(w.snapshot_interval_s)
        async def snapshot():
            await self.snapshot_state()

        if self.score_writer is not None:
            app.task(self.score_writer.run)

        if self.link is not None:
            self._build_alerting_agents()

        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_before_shutdown.connect(self._on_shutdown)
        return app

    def _build_alerting_agents(self) -> None:
        """The topics alerting writes to, the feedback agent, and the task writing the runtime's outbox."""
        raw = {"partitions": 1, "value_serializer": "raw", "key_serializer": "raw"}
        self.feedback_topic = self.app.topic(self.settings.topics.feedback, **raw)
        self.audit_topic = self.app.topic(self.settings.topics.audit, **raw)

        @self.app.agent(self.feedback_topic, name="feedback")
        async def feedback(stream):
            async for batch in stream.take_events(100, within=0.5):
                await route_feedback(self, self.outbox, [json_or_raw(e.value) for e in batch])

        @self.app.task
        async def write_alerting_outbox() -> None:
            await drain_alerting_outbox(self, self.link.alerting_outbox)

    # -- stage calls ------------------------------------------------------------

    async def guarded(self, handle, batch, *, stage: str) -> bool:
        """``handle(batch)``; if it raises, the batch is held uncommitted and counted (see ``batch_guard``)."""
        def held(count: int) -> None:
            self.stats.records_held += count
        return await run_guarded(handle, batch, stage=stage, on_held=held)

    async def send_record(self, topic, value: bytes, *, stage: str, key: bytes | None = None,
                          partition: int | None = None) -> bool:
        """Write one record; one over ``worker.max_record_bytes`` becomes a dead letter instead (False)."""
        limit = self.settings.worker.max_record_bytes
        if len(value) + len(key or b"") > limit:
            reason = (f"{stage} output record of {len(value)} bytes for {topic.get_topic_name()} is over "
                      f"worker.max_record_bytes {limit}")
            await self.send_dead_letter(dead_letter_record(value, reason, topic=topic.get_topic_name(),
                                                           partition=partition, offset=None, stage=stage,
                                                           now=time.time()), stage=stage)
            return False
        await topic.send(key=key, value=value, partition=partition)
        return True

    async def normalise_and_forward(self, kind: str, batch) -> None:
        for piece in slices_by_bytes(batch, SLICE_BYTES):
            await self._normalise_slice(kind, piece)

    async def _normalise_slice(self, kind: str, batch) -> None:
        now = time.time()
        messages = [
            RawMessage(e.message.topic, e.message.partition, e.message.offset, _as_bytes(e.value))
            for e in batch
        ]
        result = self.normaliser.process(kind, messages, now=now)  # type: ignore[arg-type]
        w = self.settings.worker
        for partition, events in result.events_by_partition.items():
            for record in event_records(events, max_events=w.events_per_record, max_bytes=w.max_record_bytes):
                if await self.send_record(self.events_topic, record, partition=partition, stage="normalise"):
                    self.metrics.records_out(self.settings.topics.events)
        for record in result.dead_letters:
            await self.send_dead_letter(record, stage="normalise")
        self.stats.messages_in += len(messages)
        self.stats.events_in += result.event_count
        self.metrics.messages_in(self.settings.topics.metrics if kind == "metrics" else self.settings.topics.logs,
                                 len(messages))
        self.metrics.events_in(self.settings.topics.metrics if kind == "metrics" else self.settings.topics.logs,
                               result.event_count)
        self.stats.duplicates += result.skipped

    async def score_and_forward(self, batch) -> None:
        await self._restored.wait()
        batch = [r for r in batch if r.message.partition in self.events_owned]  # none of a partition moved away
        for piece in slices_by_bytes(batch, SLICE_BYTES):
            await self._score_slice(piece)

    async def _score_slice(self, batch) -> None:
        now = time.time()
        scorer = self.ensure_scorer()
        self.metrics.messages_in(self.settings.topics.events, len(batch))
        events, controls, decoded = [], [], []
        for record in batch:
            value = _as_bytes(record.value)
            try:
                got, ctl = decode_batch(value)
            except (ValueError, TypeError, KeyError) as exc:
                await self.dead_letter_record_of(record, value, f"events record is not an event batch: {exc}",
                                                 stage="score")
                continue
            events.extend(got)
            if ctl:
                controls.append((record, value, ctl))
            decoded.append((record, value, got))
        if controls and self.link is not None:
            await self.apply_controls(scorer, controls)
        if not events:
            return
        try:
            await self.score_events(scorer, events, now=now)
        except Exception:
            log.exception("score.batch_failed", records=len(decoded), events=len(events))
            await self.score_one_by_one(scorer, decoded, now=now)

    async def apply_controls(self, scorer: ScoreStage, controls) -> None:
        """Feedback found on the events topic; an item that cannot be applied is a dead letter of stage feedback."""
        for record, _value, items in controls:
            async with self._state_lock:
                applied, refused = apply_feedback_controls(items, scorer.engine)
            self.stats.feedback_applied += applied
            for item, reason in refused:
                m = record.message
                await self.send_dead_letter(dead_letter_record(
                    json.dumps(item, default=str).encode(), reason, topic=m.topic, partition=m.partition,
                    offset=m.offset, stage="feedback", now=time.time()), stage="feedback")

    async def score_events(self, scorer: ScoreStage, events, *, now: float) -> None:
        """Score events in time order and send what comes out."""
        events.sort(key=attrgetter("time"))
        async with self._state_lock:
            out = await self.scored(scorer, events, now=now)
        sent = 0
        for anomaly in out.anomalies:
            value = json.dumps(anomaly.to_dict()).encode()
            sent += await self.send_record(self.anomalies_topic, value, key=anomaly.series_id.encode(), stage="score")
        for end in out.episode_ends:  # after the series' anomalies: its alert resolves with the episode
            sent += await self.send_record(self.anomalies_topic, json.dumps(end).encode(),
                                           key=end["series_id"].encode(), stage="score")
        self.metrics.records_out(self.settings.topics.anomalies, sent)
        self.stats.points_scored += out.scored
        self.stats.anomalies += len(out.anomalies)
        self.count_scored(events)

    async def scored(self, scorer: ScoreStage, events: list[Event], *, now: float) -> ScoredBatch:
        """``scorer.process(events)``: on the event loop for a batch of up to ``worker.inline_score_max_events``
        events, in a thread for a larger one.

        At a steady rate batches are small, and a thread costs more than it saves: the loop's next batch and the
        thread's scoring contend for the interpreter lock (and, where cores are hyperthreads, for one core), so
        both run slower. A backlog comes in large batches: scored in a thread, it overlaps with the loop
        normalising the next one, and the loop stays free for the API and timers.
        """
        if len(events) <= self.settings.worker.inline_score_max_events:
            return scorer.process(events, now=now)
        return await asyncio.to_thread(scorer.process, events, now=now)

    async def score_one_by_one(self, scorer: ScoreStage, decoded, *, now: float) -> None:
        """After a batch failed: each events record alone; one that still fails is a dead letter."""
        for record, value, events in decoded:
            if not events:
                continue
            try:
                await self.score_events(scorer, events, now=now)
            except Exception as exc:
                log.exception("score.record_failed", events=len(events))
                await self.dead_letter_record_of(record, value, f"scoring failed: {type(exc).__name__}: {exc}",
                                                 stage="score")

    def count_scored(self, events) -> None:
        """Ingest-to-score latency of a scored batch; the series held, at most once a second."""
        now = time.time()
        self.metrics.observe_ingest_latency(map(attrgetter("ingest_time"), events), now=now)
        if self.scorer is not None and now - self._series_counted_at >= 1.0:
            self._series_counted_at = now
            self.metrics.series_tracked.set(len(self.scorer.engine.series_ids()))

    async def alert_batch(self, batch) -> None:
        """Anomalies through the outbox into the policy; its dead letters and its state are durable before Faust
        may commit these offsets."""
        if self.outbox is None:
            return
        await self._restored.wait()
        if not self.owns_alerting:  # taken before the anomalies partition moved away
            return
        self.metrics.messages_in(self.settings.topics.anomalies, len(batch))
        anomalies, parsed = [], []
        for record in batch:
            value = _as_bytes(record.value)
            try:
                anomalies.append(json.loads(value))
            except ValueError as exc:
                await self.dead_letter_record_of(record, value, f"anomaly record is not JSON: {exc}", stage="alert")
                continue
            parsed.append((record, value, anomalies[-1]))
        received = time.time()
        self.metrics.observe_alert_latency(received - a["ingest_time"] for a in anomalies
                                           if isinstance(a, dict) and isinstance(a.get("ingest_time"), (int, float))
                                           and a["ingest_time"] > 0)
        try:
            await self.hand_to_alerting(anomalies)
        except Exception:
            log.exception("alert.batch_failed", records=len(parsed))
            for record, value, anomaly in parsed:  # each alone; one that still fails is a dead letter
                try:
                    await self.hand_to_alerting([anomaly])
                except Exception as exc:
                    await self.dead_letter_record_of(record, value, f"alert policy failed: {type(exc).__name__}: "
                                                     f"{exc}", stage="alert")
        await self.snapshot_alerting()

    async def hand_to_alerting(self, anomalies: list) -> None:
        """Anomaly records to the alerting runtime; returns once it took them, with the dead letters it made sent."""
        for dead in await self.outbox.ask(AnomalyRecords(anomalies)):
            await self.send_dead_letter(dead.value, stage=dead.stage)

    async def send_dead_letter(self, record: bytes, *, stage: str) -> None:
        """Every dead letter of the worker goes out, and is counted, here."""
        await self.deadletter_topic.send(value=record)
        self.stats.dead_letters += 1
        self.metrics.dead_letter(stage)
        self.metrics.records_out(self.settings.topics.deadletter)

    async def dead_letter_record_of(self, record, value: bytes, reason: str, *, stage: str) -> None:
        """Dead-letter a Kafka record this worker consumed, with its coordinates."""
        m = record.message
        await self.send_dead_letter(dead_letter_record(value, reason, topic=m.topic, partition=m.partition,
                                                       offset=m.offset, stage=stage, now=time.time()), stage=stage)

    async def snapshot_alerting(self) -> None:
        """Write the alerting state alone and wait until the broker has it (not before it was restored)."""
        if self.outbox is None or not self.alerting_restored:
            return
        async with self._snapshot_lock:
            await self._write_states({ALERTING_STATE_KEY: await self.outbox.ask(ExportState())})

    def ensure_scorer(self) -> ScoreStage:
        if self.scorer is None:
            on_scored = self.score_writer.offer if self.score_writer is not None else None
            self.scorer = ScoreStage(self.settings, learn_filter=self.learn_filter, on_scored=on_scored)
        return self.scorer

    # -- state ------------------------------------------------------------------

    async def snapshot_state(self) -> int:
        """Write changed state; none while a restore is under way, and the alerting state only once restored."""
        if self._restoring:
            log.info("state.snapshot_deferred", why="state is being restored")
            return 0
        async with self._snapshot_lock:
            if self._restoring:
                return 0
            written = await self._snapshot_series() if self.scorer is not None else 0
            if self.outbox is not None and self.owns_alerting and self.alerting_restored:
                async with self._state_lock:
                    alerting_state = await self.outbox.ask(ExportState())
                await self._write_states({ALERTING_STATE_KEY: alerting_state})
                written += 1
            if written:
                log.info("state.snapshot", records=written)
            return written

    async def _snapshot_series(self) -> int:
        """The changed series, ``SNAPSHOT_CHUNK`` at a time: each piece exported under the state lock (off the
        event loop), written without it, so scoring goes on between pieces; a piece not written stays dirty."""
        scorer = self.scorer
        async with self._state_lock:
            ids = sorted(scorer.dirty)
            scorer.dirty.clear()
        written = done = 0
        try:
            for i in range(0, max(len(ids), 1), SNAPSHOT_CHUNK):
                if self._restoring:  # a rebalance began: what is left is saved after the restore
                    break
                async with self._state_lock:
                    states = await asyncio.to_thread(export_series, scorer, ids[i:i + SNAPSHOT_CHUNK])
                await self._write_states(states)
                written += len(states)
                done = i + SNAPSHOT_CHUNK
        finally:
            scorer.dirty.update(ids[done:])
        return written

    async def _write_states(self, states: dict[str, bytes]) -> None:
        """State records to the partition of the series they belong to; returns once the broker has them."""
        parts = self.settings.kafka.partitions
        for key, blob in states.items():
            await self.state_topic.send(key=key.encode(), value=state_codec.seal(key, blob, self.state_key),
                                        partition=partition_for(state_series_id(key), parts))
        if states:
            await self.app.producer.flush()
        self.stats.state_records_saved += len(states)
        self.metrics.records_out(self.settings.topics.state, len(states))
        self.metrics.state_bytes.inc(sum(len(blob) for blob in states.values()))

    async def _on_assigned(self, app, assigned, **kwargs) -> None:
        self._restored.clear()
        self._restoring += 1
        self.metrics.restore_pending.set(len(assigned))
        try:
            await self._restore(assigned)
        finally:
            self._restoring -= 1
            self.metrics.restore_pending.set(0)
            self._restored.set()

    async def _restore(self, assigned) -> None:
        parts = sorted(tp.partition for tp in assigned if tp.topic == self.settings.topics.events)
        self.events_owned = set(parts)
        self._assignments += 1
        self.owns_alerting = any(tp.topic == self.settings.topics.anomalies for tp in assigned)
        wanted = set(parts)
        if self.owns_alerting:
            wanted.add(self._alerting_state_partition())
            self.alerting_restored = False
        if not wanted:
            self.ready = True  # a member of the group with nothing to own: idle, but serving
            return
        restore = StateRestore(self.ensure_scorer(), parts=set(parts), partitions=self.settings.kafka.partitions,
                               state_key=self.state_key, stats=self.stats, lock=self._state_lock,
                               alerting_key=ALERTING_STATE_KEY)
        restore.bind()
        unfinished: set[int] = set()
        started, cpu_started = time.monotonic(), time.process_time()
        rest = await asyncio.to_thread(self.read_state, self.settings, sorted(wanted), unfinished=unfinished,
                                       on_batch=restore.hand_over)
        read_s = time.monotonic() - started
        await restore.apply(dict(rest))  # a reader that hands over no batches returns every record
        del rest
        if unfinished:
            log.error("state.read_incomplete", partitions=sorted(unfinished),
                      why="not read to the end in time: their series start from what was read")
        alerting_state = restore.alerting_state
        if self.owns_alerting and self._alerting_state_partition() in unfinished:
            # Never save over an alerting state that was not read: silences and alerts would be lost.
            log.error("alerting.state_not_restored", why="its partition of the state topic was not read to the "
                      "end; the alerting state is not saved until a restore succeeds")
        elif self.owns_alerting and self.outbox is not None:
            if alerting_state is not None:
                # Not awaited: the runtime applies it before any batch put after it (the outbox keeps order),
                # and the state is not saved before it was applied (see ``_alerting_state_read``).
                receipt = await self.outbox.put(RestoreState(alerting_state))
                receipt.add_done_callback(functools.partial(self._alerting_state_read, self._assignments))
            else:
                self.alerting_restored = True
        release_free_memory()  # the records read are freed: their pages go back, not only to the heap
        total_s, cpu_s = time.monotonic() - started, time.process_time() - cpu_started
        summary = restore_summary(restore, read_s, total_s, cpu_s)
        self.stats.last_restore_read_ms, self.stats.last_restore_apply_ms = summary["read_ms"], summary["apply_ms"]
        self.stats.last_restore_ms, self.stats.last_restore_cpu_ms = summary["total_ms"], summary["cpu_ms"]
        self.ready = True
        log.info("state.restored", partitions=parts, **summary)

    def _alerting_state_read(self, assignment: int, receipt: asyncio.Future) -> None:
        """The runtime's reply to ``RestoreState``: from now on the alerting state may be saved (also when the
        record was refused: the state then starts fresh, as with no record)."""
        if assignment != self._assignments or receipt.cancelled():
            return
        error = receipt.exception()
        if isinstance(error, InputError):
            self.stats.state_records_rejected += 1
            log.warning("state.rejected", key=ALERTING_STATE_KEY, reason=str(error))
        elif error is not None:
            log.error("alerting.state_not_restored", error=f"{type(error).__name__}: {error}")
            return
        else:
            log.info("alerting.state_restored")
        self.alerting_restored = True

    def _alerting_state_partition(self) -> int:
        return partition_for(state_series_id(ALERTING_STATE_KEY), self.settings.kafka.partitions)

    async def _on_revoked(self, app, revoked, **kwargs) -> None:
        parts = {tp.partition for tp in revoked if tp.topic == self.settings.topics.events}
        if not parts or self.scorer is None:
            return
        await self.snapshot_state()
        n = self.settings.kafka.partitions
        async with self._state_lock:
            gone = [sid for sid in self.scorer.engine.series_ids() if partition_for(sid, n) in parts]
            self.scorer.engine.forget(gone)
            forget_log_state(self.scorer, lambda key: partition_for(key, n) in parts)
        log.info("state.released", partitions=sorted(parts), series=len(gone))

    async def _on_shutdown(self, app, **kwargs) -> None:
        try:
            await self.snapshot_state()
        except Exception as exc:  # the broker may already be gone
            log.warning("state.snapshot_failed", error=str(exc))
        if self.score_writer is not None:
            await self.score_writer.close()


def slices_by_bytes(batch: list, limit: int) -> list[list]:
    """The batch's records in order, in runs whose values add up to at most ``limit`` bytes (one record at least).

    >>> class R:
    ...     def __init__(self, n): self.value = b"x" * n
    >>> [[len(r.value) for r in run] for run in slices_by_bytes([R(3), R(3), R(5), R(1)], 6)]
    [[3, 3], [5, 1]]
    """
    runs: list[list] = []
    run: list = []
    size = 0
    for record in batch:
        n = len(record.value) if isinstance(record.value, (bytes, str)) else 0
        if run and size + n > limit:
            runs.append(run)
            run, size = [], 0
        run.append(record)
        size += n
    if run:
        runs.append(run)
    return runs


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()
