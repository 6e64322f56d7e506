"""The worker's alerting side: anomalies in; notifications, audit and feedback records out.

``AlertingRuntime`` reads the worker's outbox and writes its own (see
``aiops.alerting.outbox`` for what flows and who owns what); it holds no
worker and writes no Kafka topic. Anomalies reach one consumer (the anomalies
topic has one partition), so grouping sees every anomaly of a group. Every
worker still runs the service: its maintenance windows decide whether the
engine learns a point, and its API answers on the worker's web port.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog

from aiops.alerting.delivery import build_delivery
from aiops.alerting.feedback import FeedbackRecord
from aiops.alerting.outbox import (
    AlertingLink,
    AnomalyRecords,
    ExportState,
    FeedbackRecords,
    FeedbackRouting,
    Parcel,
    Record,
    RestoreState,
    SaveState,
)
from aiops.alerting.service import AlertingService
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import AiopsError, InputError
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import Settings
from aiops.pipeline.normalise.deadletter import dead_letter_record

log = structlog.get_logger(__name__)


class AlertingRuntime:
    """Policy, delivery and remediation behind the two outboxes of ``link``.

    ``serve()`` answers the worker's outbox, one item at a time; ``tick()`` (every second) flushes due groups to
    the sinks and puts what must be written (audit and feedback records, the request to save the state) in the
    runtime's own outbox.
    """

    def __init__(self, settings: Settings, *, link: AlertingLink | None = None) -> None:
        self.settings = settings
        self.link = link if link is not None else AlertingLink()
        self.inbox = self.link.worker_outbox  # read here
        self.outbox = self.link.alerting_outbox  # written here
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

    # -- the worker's outbox ------------------------------------------------------

    async def serve(self) -> None:
        """Answer the worker's outbox for as long as the worker runs."""
        while True:
            self.answer(await self.inbox.get())

    def answer(self, parcel: Parcel) -> None:
        """Settle one item with its reply, or with the error that stopped it (the worker decides what then).

        Nothing here waits: what an item produces is in its reply, so the worker may wait for it under its locks.
        """
        try:
            parcel.settle(self.reply(parcel.item))
        except Exception as exc:
            parcel.fail(exc)

    def reply(self, item: Any) -> Any:
        if isinstance(item, AnomalyRecords):
            return self.handle(item.records)
        if isinstance(item, FeedbackRecords):
            return self.route_feedback(item.records)
        if isinstance(item, RestoreState):
            return self.import_state(item.blob)
        if isinstance(item, ExportState):
            return self.export_state()
        raise TypeError(f"the alerting runtime takes no {type(item).__name__}")

    # -- anomalies to alerts ------------------------------------------------------

    def handle(self, anomalies: list[Any]) -> list[Record]:
        """Anomalies (and ``episode_end`` records) into the policy; the dead letters of those it refused."""
        self.received += len(anomalies)
        max_age = self.settings.alerting.policy.max_age_s
        if max_age is not None:
            oldest = time.time() - max_age
            fresh = [a for a in anomalies if not isinstance(a, dict) or a.get("time", oldest) >= oldest]
            self.stale += len(anomalies) - len(fresh)
            anomalies = fresh
        self.service.ingest(anomalies)
        return [Record("dead_letter", dead_letter_record(
            json.dumps(rejected["record"], default=str).encode(), rejected["reason"],
            topic=self.settings.topics.anomalies, partition=None, offset=None, stage="alert", now=time.time()))
            for rejected in self.service.drain_rejected()]

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
        """Due groups to the sinks; after notifications, the state is saved before audit and feedback go out."""
        notes = await self.service.tick()
        self.notifications += len(notes)
        if notes:
            await self.outbox.ask(SaveState())
        for note in notes:
            for alert in note.alerts:
                if alert.status == "firing" and alert.fingerprint not in self._firing:
                    self._firing.add(alert.fingerprint)
                    self.alerts_raised += 1
                elif alert.status == "resolved":
                    self._firing.discard(alert.fingerprint)
        for record in self.service.drain_audit():
            await self.outbox.ask(Record("audit", json.dumps(record, default=str).encode()))
        for record in self.service.drain_feedback():
            await self.outbox.ask(Record("feedback", json.dumps(record, default=str).encode(),
                                         key=str(record.get("series_id", "")).encode()))

    def should_learn(self, event: Event) -> bool:
        """False inside a maintenance window that pauses learning for the event's labels."""
        return self.service.should_learn(event.labels, event.time)

    # -- feedback -----------------------------------------------------------------

    def route_feedback(self, records: list[Any]) -> FeedbackRouting:
        """Feedback read from its topic is remembered; the worker sends it on to the owner of the series."""
        routing = FeedbackRouting()
        for record in records:
            if not isinstance(record, dict) or not record.get("series_id"):
                routing.dead_letters.append(Record("dead_letter", dead_letter_record(
                    json.dumps(record, default=str).encode(), "feedback record without series_id",
                    topic=self.settings.topics.feedback, partition=None, offset=None, stage="feedback",
                    now=time.time()), stage="feedback"))
                continue
            self.service.state.policy.feedback.remember(FeedbackRecord.from_dict(record))
            routing.accepted.append(record)
        return routing

    # -- plumbing -----------------------------------------------------------------

    async def _dead_letter(self, record: bytes, *, stage: str = "delivery") -> None:
        """A notification delivery gave up on: the worker writes it to the dead-letter topic."""
        await self.outbox.ask(Record("dead_letter", record, stage=stage))

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
