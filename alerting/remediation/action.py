"""The ``Action`` record and the contract every action kind implements.

An ``Action`` is one request to act on one target because of one alert; its
``status`` walks through the guard's verdicts (requested, refused,
awaiting_approval, approved, denied, expired, dry_run, executed, failed,
verified, verification_failed, rolled_back). Its ``id`` is the audit id.

>>> a = Action.new(name="restart", kind="command", target="web-1", policy="cpu",
...                fingerprint="f1", why="cpu high", now=5.0)
>>> a.status, a.to_dict()["target"]
('requested', 'web-1')
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from aiops.alerting.alert import Alert
from aiops.detectors.core.errors import InputError

STATUSES = ("requested", "refused", "awaiting_approval", "approved", "denied", "expired", "dry_run",
            "executed", "failed", "verified", "verification_failed", "rolled_back")


class ActionRefused(InputError):
    """An action cannot be prepared for this alert (e.g. a templated argument fails validation)."""


class ActionError(InputError):
    """An API/CLI request about actions that cannot be honoured (unknown id, wrong state)."""


@dataclass(slots=True)
class Plan:
    """A prepared action: its target and exactly what would be done (argv, URL and body, object)."""

    target: str
    details: dict[str, Any]


@dataclass(slots=True)
class Action:
    id: str
    name: str
    kind: str
    target: str
    policy: str
    fingerprint: str
    why: str
    status: str
    requested_at: float
    updated_at: float
    dry_run: bool = True
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    verify_within_s: float | None = None
    verify_by: float | None = None
    decided_by: str | None = None
    rollback_of: str | None = None

    @classmethod
    def new(cls, *, name: str, kind: str, target: str, policy: str, fingerprint: str, why: str,
            now: float) -> Action:
        return cls(uuid.uuid4().hex[:16], name, kind, target, policy, fingerprint, why, "requested", now, now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ActionKind(Protocol):
    """One kind of action (webhook, command, kubernetes), built from its settings."""

    def prepare(self, alert: Alert) -> Plan:
        """What would be done for this alert; raises ``ActionRefused`` when unsafe or invalid."""
        ...

    async def execute(self, plan: Plan) -> dict[str, Any]:
        """Do it for real; returns the result, raises on failure."""
        ...


def template_values(alert: Alert) -> dict[str, str]:
    """What action templates may use: the alert's labels, severity, fingerprint and summary."""
    return {**alert.labels, "severity": alert.severity, "fingerprint": alert.fingerprint,
            "summary": alert.annotations.get("summary", "")}
