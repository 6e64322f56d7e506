"""The worker's alerting side: anomalies in; notifications, audit and feedback records out.

Anomalies reach one consumer (the anomalies topic has one partition), so
grouping sees every anomaly of a group. Every worker still runs the service:
its maintenance windows decide whether the engine learns a point, and its
API answers on the worker's web port.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog

from aiops.alerting.delivery import build_delivery
from aiops.alerting.feedback import FeedbackRecord, apply_feedback
from aiops.alerting.service import AlertingService
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import AiopsError, InputError
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import Settings
from aiops.pipeline.normalise.deadletter import dead_letter_record

log = structlog.get_logger(__name__)


class AlertingRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.worker = None
        self.received = 0
        self.stale = 0
        self.alerts_raised = 0
        self.notifications = 0
        self._firing: set[str] = set()
        self.delivery = self._build_delivery(settings)
        secret = settings.alerting.feedback.secret
        self.service = AlertingService(
            settings.alerting, self.delivery,
            signer_secret=secret.get_secret_value().encode() if secret else None,
        )

    def _build_delivery(self, settings: Settings):
        receivers = {r.name: list(r.sinks) for r in settings.alerting.receivers}
        return build_delivery(receivers, dead_letter=self._dead_letter, config=settings.alerting.delivery)

    def attach(self, worker) -> None:
        self.worker = worker
        app = worker.app
        feedback_topic = app.topic(self.settings.topics.feedback, partitions=1,
                                   value_serializer="raw", key_serializer="raw")
        self.audit_topic = app.topic(self.settings.topics.audit, partitions=1,
                                     value_serializer="raw", key_serializer="raw")
        self.feedback_topic = feedback_topic

        @app.timer(1.0)
        async def alerting_tick():
            await self.tick()

        @app.agent(feedback_topic, name="feedback")
        async def feedback(stream):
            async for batch in stream.take_events(100, within=0.5):
                await self.route_feedback([_json(e.value) for e in batch])

    # -- anomalies to alerts ------------------------------------------------------

    async def handle(self, anomalies: list[dict[str, Any]]) -> None:
        self.received += len(anomalies)
        max_age = self.settings.alerting.policy.max_age_s
        if max_age is not None:
            oldest = time.time() - max_age
            fresh = [a for a in anomalies if not isinstance(a, dict) or a.get("time", oldest) >= oldest]
            self.stale += len(anomalies) - len(fresh)
            anomalies = fresh
        self.service.ingest(anomalies)
        for rejected in self.service.drain_rejected():
            await self._dead_letter(dead_letter_record(
                json.dumps(rejected["record"], default=str).encode(), rejected["reason"],
                topic=self.settings.topics.anomalies, partition=None, offset=None, stage="alert", now=time.time()))

    def export_state(self) -> bytes:
        """Policy, silences, pending actions and delivery's dedup memory, in the state codec for the state topic."""
        state = {"v": 1, "service": self.service.export_state(), "delivery": self.delivery.export_state()}
        return state_codec.dumps(state)

    def import_state(self, blob: bytes) -> None:
        """Restore ``export_state`` output; ``InputError`` (state left as it was) if it cannot be used."""
        state = state_codec.loads(blob)
        if not isinstance(state, dict) or state.get("v") != 1 or not isinstance(state.get("service"), dict):
            raise InputError("alerting state is not a version 1 alerting state")
        before = self.export_state()
        try:
            self.service.import_state(state["service"])
            self.delivery.load_state(state.get("delivery", {}))
        except (AiopsError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.service.import_state(state_codec.loads(before)["service"])
            raise InputError(f"alerting state does not fit: {type(exc).__name__}: {exc}") from None

    async def tick(self) -> None:
        notes = await self.service.tick()
        self.notifications += len(notes)
        if notes and self.worker is not None and self.worker.owns_alerting:
            await self.worker.snapshot_alerting()
        for note in notes:
            for alert in note.alerts:
                if alert.status == "firing" and alert.fingerprint not in self._firing:
                    self._firing.add(alert.fingerprint)
                    self.alerts_raised += 1
                elif alert.status == "resolved":
                    self._firing.discard(alert.fingerprint)
        if self.worker is None:
            return
        metrics = self.worker.metrics
        for record in self.service.drain_audit():
            await self.audit_topic.send(value=json.dumps(record, default=str).encode())
            metrics.records_out(self.settings.topics.audit)
        for record in self.service.drain_feedback():
            await self.feedback_topic.send(key=str(record.get("series_id", "")).encode(),
                                           value=json.dumps(record, default=str).encode())
            metrics.records_out(self.settings.topics.feedback)

    def should_learn(self, event: Event) -> bool:
        """False inside a maintenance window that pauses learning for the event's labels."""
        return self.service.should_learn(event.labels, event.time)

    # -- feedback -----------------------------------------------------------------

    async def route_feedback(self, records: list[Any]) -> None:
        """Feedback read from its topic goes to the partition that owns the series' detectors."""
        from aiops.pipeline.event_codec import encode_controls
        from aiops.pipeline.topics import partition_for

        by_partition: dict[int, list[dict[str, Any]]] = {}
        for record in records:
            if not isinstance(record, dict) or not record.get("series_id"):
                await self._dead_letter(dead_letter_record(
                    json.dumps(record, default=str).encode(), "feedback record without series_id",
                    topic=self.settings.topics.feedback, partition=None, offset=None, stage="feedback",
                    now=time.time()), stage="feedback")
                continue
            self.service.state.policy.feedback.remember(FeedbackRecord.from_dict(record))
            part = partition_for(record["series_id"], self.settings.kafka.partitions)
            by_partition.setdefault(part, []).append({"control": "feedback", "record": record})
        for part, controls in by_partition.items():
            await self.worker.events_topic.send(value=encode_controls(controls), partition=part)
            self.worker.metrics.records_out(self.settings.topics.events)

    def apply_controls(self, controls: list[dict[str, Any]], engine) -> tuple[int, list[tuple[dict[str, Any], str]]]:
        """Control items found on the events topic (feedback for series this worker owns).

        Returns the ``engine.feedback`` calls made and the items refused, each with its reason (an
        unknown series, a malformed record): those are the caller's dead letters, the others still apply.
        """
        applied, refused = 0, []
        for item in controls:
            if not isinstance(item, dict) or item.get("control") != "feedback":
                continue
            try:
                applied += apply_feedback(FeedbackRecord.from_dict(item.get("record")), engine)
            except (InputError, TypeError, ValueError) as exc:
                refused.append((item, f"feedback not applied: {exc}"))
        if applied:
            log.info("feedback.applied", calls=applied)
        return applied, refused

    # -- plumbing -----------------------------------------------------------------

    async def _dead_letter(self, record: bytes, *, stage: str = "delivery") -> None:
        if self.worker is None:
            log.error("alerting.dead_letter_without_worker", bytes=len(record))
            return
        await self.worker.send_dead_letter(record, stage=stage)

    def web_app(self, *, health=None):
        """The API, accepting the configured tokens and ``AIOPS_API_TOKEN``."""
        from aiops.alerting.auth import TokenBook

        return self.service.web_app(health=health, tokens=TokenBook.from_config(self.settings.alerting.api))

    def reconfigure(self, settings: Settings) -> None:
        """Policy, routes and receivers change with the file; alert state is carried over."""
        state = self.export_state()
        self.settings = settings
        self.delivery = self._build_delivery(settings)
        secret = settings.alerting.feedback.secret
        self.service = AlertingService(settings.alerting, self.delivery,
                                       signer_secret=secret.get_secret_value().encode() if secret else None)
        self.import_state(state)


def _json(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
