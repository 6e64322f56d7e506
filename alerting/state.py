"""Everything alerting keeps in one place, for the worker and the HTTP API.

>>> from aiops.alerting.config import AlertingConfig
>>> state = AlertingState.from_config(AlertingConfig(), signer_secret=b"s" * 32, clock=lambda: 0.0)
>>> state.policy.alerts(0.0), state.remediator.list()
([], [])
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from aiops.alerting.config import AlertingConfig
from aiops.alerting.feedback import FeedbackError, FeedbackRecord, LinkSigner, check_verdict
from aiops.alerting.policy import AlertPolicy
from aiops.alerting.remediation.action import Action
from aiops.alerting.remediation.remediator import Remediator


@dataclass
class AlertingState:
    policy: AlertPolicy
    remediator: Remediator
    clock: Callable[[], float] = field(default=time.time)
    used_links: dict[str, float] = field(default_factory=dict)  # link id -> its expiry

    @classmethod
    def from_config(cls, config: AlertingConfig, *, signer_secret: bytes | None = None,
                    clock: Callable[[], float] = time.time) -> AlertingState:
        signer = LinkSigner(signer_secret) if signer_secret else None
        return cls(AlertPolicy(config, signer=signer), Remediator(config.remediation), clock)

    def record_feedback(self, fingerprint: str, verdict: str, *, who: str, comment: str = "",
                        via: str = "api", series_id: str | None = None) -> FeedbackRecord:
        """Record a verdict on an alert (known to the policy, or named by a signed link)."""
        state = self.policy.states.get(fingerprint)
        if state is None and series_id is None:
            raise FeedbackError(f"unknown alert {fingerprint!r}")
        record = FeedbackRecord.new(
            fingerprint=fingerprint, series_id=state.series_id if state else str(series_id),
            anomaly_ids=list(state.alert.anomaly_ids) if state else [],
            anomaly_times=list(state.anomaly_times) if state else [], verdict=verdict, who=who,
            when=self.clock(), comment=comment, via=via, labels=dict(state.alert.labels) if state else {})
        return self.policy.feedback.record(record)

    def check_link(self, token: str, verdict: str) -> dict:
        """The payload of a usable feedback link for this verdict; ``FeedbackError`` if forged, expired or used."""
        payload = self.policy.signer.verify(token, now=self.clock())
        check_verdict(verdict)
        if not isinstance(payload.get("fp"), str):
            raise FeedbackError("feedback link names no alert")
        if self._link_id(token, payload) in self.used_links:
            raise FeedbackError("feedback link has already been used")
        return payload

    def record_link_feedback(self, token: str, verdict: str) -> FeedbackRecord:
        """Record the verdict of a signed link, once: a link is single use, whatever the verdict.

        The verdict is attributed to the link's recipient (the receiver it was sent to).
        """
        payload = self.check_link(token, verdict)
        record = self.record_feedback(payload["fp"], verdict, who=f"link:{payload.get('to') or 'recipient'}",
                                      via="link", series_id=payload.get("series_id"))
        now = self.clock()
        self.used_links = {k: exp for k, exp in self.used_links.items() if exp >= now}
        self.used_links[self._link_id(token, payload)] = float(payload.get("exp", now))
        return record

    @staticmethod
    def _link_id(token: str, payload: dict) -> str:
        return str(payload.get("id") or token)

    # -- approval links ------------------------------------------------------------------------
    def approval_token(self, action: Action, recipient: str) -> str:
        """A signed, single-use link credential deciding one pending action, for one recipient."""
        now = self.clock()
        expires = action.expires_at if action.expires_at is not None else now + self.policy.config.feedback.link_ttl_s
        return self.policy.signer.sign({"kind": "approval", "act": action.id, "id": uuid.uuid4().hex[:16],
                                        "to": recipient}, expires_at=expires)

    def check_approval_link(self, token: str) -> tuple[dict, Action]:
        """The payload and the pending action of a usable approval link; ``FeedbackError`` otherwise."""
        payload = self.policy.signer.verify(token, now=self.clock())
        if payload.get("kind") != "approval" or not isinstance(payload.get("act"), str):
            raise FeedbackError("not an approval link")
        if self._link_id(token, payload) in self.used_links:
            raise FeedbackError("approval link has already been used")
        action = self.remediator.actions.get(payload["act"])
        if action is None or action.status != "awaiting_approval":
            raise FeedbackError("the action is no longer awaiting approval")
        return payload, action

    async def decide_by_link(self, token: str, decision: str) -> Action:
        """Approve or deny through a link, once, attributed to the link's recipient."""
        if decision not in ("approve", "deny"):
            raise FeedbackError("decision must be approve or deny")
        payload, action = self.check_approval_link(token)
        now = self.clock()
        self.used_links = {k: exp for k, exp in self.used_links.items() if exp >= now}
        self.used_links[self._link_id(token, payload)] = float(payload.get("exp", now))
        who = f"link:{payload.get('to') or 'recipient'}"
        if decision == "approve":
            return await self.remediator.approve(action.id, who=who, now=now)
        return self.remediator.deny(action.id, who=who, now=now, comment="denied through an approval link")
