"""The audit trail: every step of every action, logged and queued for the audit topic.

>>> from structlog.testing import capture_logs
>>> from aiops.alerting.remediation.action import Action
>>> trail = AuditTrail()
>>> act = Action.new(name="restart", kind="command", target="web-1", policy="cpu",
...                  fingerprint="f1", why="cpu high", now=1.0)
>>> with capture_logs() as logs:
...     _ = trail.add("requested", act, now=1.0)
>>> [r["event"] for r in trail.drain()], trail.drain(), logs[0]["event"]
(['requested'], [], 'remediation.audit')
"""

from __future__ import annotations

from typing import Any

import structlog

from aiops.alerting.remediation.action import Action

log = structlog.get_logger(__name__)

EVENTS = ("requested", "refused", "awaiting_approval", "approved", "denied", "expired", "executed",
          "failed", "verified", "verification_failed", "rolled_back", "kill_switch")


class AuditTrail:
    def __init__(self, keep: int = 1000) -> None:
        self._outbox: list[dict[str, Any]] = []
        self.recent: list[dict[str, Any]] = []
        self.keep = keep

    def add(self, event: str, action: Action | None, *, now: float, who: str | None = None,
            **extra: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"event": event, "time": now, "who": who}
        if action is not None:
            record.update(audit_id=action.id, action=action.name, kind=action.kind, target=action.target,
                          policy=action.policy, fingerprint=action.fingerprint, status=action.status,
                          dry_run=action.dry_run, reason=action.reason, details=action.details,
                          result=action.result)
        record.update(extra)
        log.info("remediation.audit", **{("audit_event" if k == "event" else k): v for k, v in record.items()})
        self._outbox.append(record)
        self.recent.append(record)
        del self.recent[:-self.keep]
        return record

    def drain(self) -> list[dict[str, Any]]:
        """Records not yet sent to the audit topic."""
        out, self._outbox = self._outbox, []
        return out
