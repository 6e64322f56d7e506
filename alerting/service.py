"""The alerting side of the worker in one object: anomalies in; notifications,
actions, audit and feedback records out.

The worker (Faust agent or plain loop) does::

    service = AlertingService(settings.alerting, delivery)   # delivery: await submit(notification)
    service.ingest(batch_of_anomaly_dicts)                   # from the anomalies topic
    await service.tick()                                     # every second or so
    audit, feedback = service.drain_audit(), service.drain_feedback()   # to their topics
    engine_learns = service.should_learn(event.labels, event.time)      # maintenance windows

>>> import asyncio
>>> from aiops.alerting.config import AlertingConfig
>>> class Recorder:
...     def __init__(self): self.sent = []
...     async def submit(self, n): self.sent.append(n)
>>> rec = Recorder()
>>> service = AlertingService(AlertingConfig(), rec, clock=lambda: 0.0, signer_secret=b"s" * 32)
>>> service.ingest([{"not": "an anomaly"}])
0
>>> service.rejected[0]["reason"][:24]
'not an anomaly record: A'
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol

import structlog
from aiohttp import web

from aiops.alerting.alert import Alert, Notification
from aiops.alerting.api import make_app
from aiops.alerting.config import AlertingConfig
from aiops.alerting.feedback import FeedbackRecord, FeedbackTarget, apply_feedback
from aiops.alerting.policy import EPISODE_ENDINGS
from aiops.alerting.remediation.action import Action
from aiops.alerting.state import AlertingState
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Anomaly

log = structlog.get_logger(__name__)


class Submitter(Protocol):
    async def submit(self, notification: Notification) -> Any: ...


class AlertingService:
    """Policy, remediation and API state behind the calls a worker makes."""

    def __init__(self, config: AlertingConfig, delivery: Submitter, *, clock: Callable[[], float] = time.time,
                 signer_secret: bytes | None = None) -> None:
        self.config = config
        self.delivery = delivery
        self.state = AlertingState.from_config(config, signer_secret=signer_secret, clock=clock)
        self.rejected: list[dict[str, Any]] = []
        self.sent = 0

    @property
    def policy(self):  # noqa: ANN201 - AlertPolicy
        return self.state.policy

    @property
    def remediator(self):  # noqa: ANN201 - Remediator
        return self.state.remediator

    def ingest(self, anomalies: Iterable[Anomaly | dict[str, Any]]) -> int:
        """Add anomalies (records or their dicts); bad ones go to ``rejected`` with the reason."""
        now, taken = self.state.clock(), 0
        for item in anomalies:
            if isinstance(item, dict) and item.get("kind") == "episode_end":
                taken += self._end_episode(item)
                continue
            try:
                anomaly = item if isinstance(item, Anomaly) else _anomaly_from(item)
                self.state.policy.ingest(anomaly, now)
                taken += 1
            except InputError as exc:
                self.rejected.append({"record": item if isinstance(item, dict) else repr(item), "reason": str(exc)})
        return taken

    def _end_episode(self, record: dict[str, Any]) -> int:
        """An ``episode_end`` record: the series' alerts resolve at the next tick, saying why (1 if taken)."""
        sid, t, reason = record.get("series_id"), record.get("time"), record.get("reason")
        if not isinstance(sid, str) or isinstance(t, bool) or not isinstance(t, (int, float)) \
                or reason not in EPISODE_ENDINGS:
            self.rejected.append({"record": record, "reason": "episode_end needs series_id, a numeric time and a "
                                                             f"reason among {', '.join(EPISODE_ENDINGS)}"})
            return 0
        self.state.policy.end_episode(sid, float(t), reason)
        return 1

    async def tick(self) -> list[Notification]:
        """Flush due groups to delivery, then run remediation over firing alerts and its timers."""
        now = self.state.clock()
        notes = self.state.policy.tick(now)
        for note in notes:
            await self.delivery.submit(note)
        self.sent += len(notes)
        firing = self.state.policy.active_alerts()
        for alert in firing:
            if not self.state.policy.muted_by(alert, now):
                for action in await self.state.remediator.handle(alert, now):
                    if action.status == "awaiting_approval":
                        await self._ask_approval(alert, action)
        await self.state.remediator.tick(now, [a.fingerprint for a in firing])
        return notes

    async def _ask_approval(self, alert: Alert, action: Action) -> None:
        """Each receiver of the alert gets it once more with signed approve/deny links for the action."""
        policy = self.state.policy
        base = self.config.api_url.rstrip("/")
        for receiver in sorted({r.receiver for r in policy.routes.match(policy.match_labels(alert))}):
            token = self.state.approval_token(action, receiver)
            notes = {**alert.annotations, "approval_action": action.name, "approval_target": action.target,
                     "approval_url": f"{base}/approve/{token}"}
            asking = replace(alert, annotations=notes)
            await self.delivery.submit(Notification(receiver=receiver, group_key=f"approval/{action.id}",
                                                    group_labels={"action": action.name}, alerts=[asking],
                                                    sent_at=self.state.clock()))

    def should_learn(self, labels: dict[str, str], time: float) -> bool:
        return self.state.policy.should_learn(labels, time)

    def drain_audit(self) -> list[dict[str, Any]]:
        return self.state.remediator.drain_audit()

    def drain_feedback(self) -> list[dict[str, Any]]:
        return self.state.policy.feedback.drain()

    def drain_rejected(self) -> list[dict[str, Any]]:
        out, self.rejected = self.rejected, []
        return out

    def apply_feedback(self, records: Iterable[dict[str, Any]], engine: FeedbackTarget) -> int:
        """Feedback records read from the topic: remember them here and pass them to the engine."""
        calls = 0
        for data in records:
            try:
                record = FeedbackRecord.from_dict(data)
                self.state.policy.feedback.remember(record)
                calls += apply_feedback(record, engine)
            except InputError as exc:
                self.rejected.append({"record": data, "reason": str(exc)})
        return calls

    def web_app(self, *, health=None, tokens=None) -> web.Application:
        return make_app(self.state, health=health, tokens=tokens)

    def export_state(self) -> dict[str, Any]:
        return {"policy": self.state.policy.export_state(), "silences": self.state.policy.silences.export(),
                "remediation": self.state.remediator.export_state(), "used_links": dict(self.state.used_links)}

    def import_state(self, data: dict[str, Any]) -> None:
        self.state.policy.import_state(data["policy"])
        self.state.policy.silences.import_(data.get("silences", []))
        if "remediation" in data:
            self.state.remediator.import_state(data["remediation"])
        used = data.get("used_links", {})
        if isinstance(used, dict):  # a used feedback link stays used across a restart
            self.state.used_links.update({str(k): float(v) for k, v in used.items()
                                          if isinstance(v, (int, float)) and not isinstance(v, bool)})


def _anomaly_from(data: Any) -> Anomaly:
    if not isinstance(data, dict):
        raise InputError(f"not an anomaly record: {type(data).__name__}")
    try:
        return Anomaly.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"not an anomaly record: {exc}") from None
