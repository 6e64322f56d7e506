"""Guarded auto-remediation: firing alerts -> policies -> guarded, audited actions.

The worker calls ``await handle(alert, now)`` for each firing alert (on every
tick is fine: one request per policy and alert episode), ``await tick(now,
firing)`` with the fingerprints still firing (expires approvals, verifies
executed actions, runs rollbacks), and sends ``drain_audit()`` to the audit
topic. The API approves, denies and engages the kill switch.

>>> import asyncio
>>> from structlog.testing import capture_logs
>>> from aiops.alerting.alert import Alert
>>> from aiops.alerting.remediation.config import RemediationConfig
>>> config = RemediationConfig.model_validate({
...     "allowed_programs": ["/bin/echo"], "require_approval": False,
...     "actions": {"echo": {"type": "command", "argv": ["/bin/echo", "{host}"], "allowed_targets": ["web-*"]}},
...     "policies": [{"name": "cpu", "action": "echo", "min_severity": "error"}]})
>>> rem = Remediator(config)
>>> alert = Alert.firing(labels={"host": "web-1"}, annotations={}, starts_at=0, severity="error", score=0.97)
>>> with capture_logs():
...     [act] = asyncio.run(rem.handle(alert, now=10))
>>> act.status, act.dry_run, act.details["argv"]
('dry_run', True, ['/bin/echo', 'web-1'])
>>> [r["event"] for r in rem.drain_audit()]
['requested', 'executed']
"""

from __future__ import annotations

from typing import Any, Iterable

import structlog

from aiops.alerting.alert import Alert
from aiops.alerting.grouping import SEVERITY_RANK
from aiops.alerting.matchers import matches_all, parse_matchers
from aiops.alerting.remediation.action import Action, ActionError, ActionRefused, Plan
from aiops.alerting.remediation.audit import AuditTrail
from aiops.alerting.remediation.config import RemediationConfig, RemediationPolicyConfig
from aiops.alerting.remediation.guards import Guards
from aiops.alerting.remediation.registry import build_action

log = structlog.get_logger(__name__)


class Remediator:
    def __init__(self, config: RemediationConfig) -> None:
        self.config = config
        self.guards = Guards(config)
        self.audit = AuditTrail()
        self.kinds = {name: build_action(name, cfg) for name, cfg in config.actions.items()}
        self.policies = [(p, parse_matchers(p.matchers)) for p in config.policies]
        self.actions: dict[str, Action] = {}
        self._requested: set[tuple[str, str, float]] = set()
        self._alerts: dict[str, Alert] = {}

    # -- requests ------------------------------------------------------------

    async def handle(self, alert: Alert, now: float) -> list[Action]:
        """Request the actions whose policies match this firing alert (once per alert episode)."""
        if not self.config.enabled or alert.status != "firing":
            return []
        labels = {**alert.labels, "severity": alert.severity}
        out = []
        for policy, matchers in self.policies:
            key = (policy.name, alert.fingerprint, alert.starts_at)
            if key in self._requested or not matches_all(matchers, labels):
                continue
            if SEVERITY_RANK.get(alert.severity, 0) < SEVERITY_RANK[policy.min_severity]:
                continue
            if now - alert.starts_at < policy.min_firing_s:
                continue
            self._requested.add(key)
            out.append(await self._request(policy, alert, now))
        return out

    async def _request(self, policy: RemediationPolicyConfig, alert: Alert, now: float) -> Action:
        kind = self.kinds[policy.action]
        why = f"policy {policy.name}: {alert.annotations.get('summary') or alert.labels}"
        action = Action.new(name=policy.action, kind=kind.kind, target="", policy=policy.name,
                            fingerprint=alert.fingerprint, why=why, now=now)
        action.dry_run = self.config.dry_run
        action.verify_within_s = policy.verify_within_s
        self.actions[action.id] = action
        self._alerts[action.id] = Alert.from_dict(alert.to_dict())
        try:
            plan = kind.prepare(alert)
            action.target, action.details = plan.target, plan.details
        except ActionRefused as exc:
            self.audit.add("requested", action, now=now)
            return self._refuse(action, str(exc), now)
        self.audit.add("requested", action, now=now)
        refusal = self._refusal(action, now)
        if refusal:
            return self._refuse(action, refusal, now)
        approval = policy.require_approval if policy.require_approval is not None else self.config.require_approval
        if approval:
            action.status, action.updated_at = "awaiting_approval", now
            action.expires_at = now + self.config.approval_timeout_s
            self.audit.add("awaiting_approval", action, now=now)
            return action
        return await self._run(action, now)

    def _refusal(self, action: Action, now: float) -> str | None:
        if self.guards.kill_switch:
            return "kill switch engaged"
        if not self.guards.allowed_target(action.target, self.config.actions[action.name].allowed_targets):
            return f"target {action.target!r} is not allow-listed for {action.name}"
        return self.guards.rate_limited(action.target, now)

    def _refuse(self, action: Action, reason: str, now: float) -> Action:
        action.status, action.reason, action.updated_at = "refused", reason, now
        self.audit.add("refused", action, now=now)
        return action

    async def _run(self, action: Action, now: float) -> Action:
        refusal = self._refusal(action, now)
        if refusal is None and self.guards.concurrency_full():
            refusal = f"{self.guards.running} actions running (limit {self.config.max_concurrent})"
        if refusal:
            return self._refuse(action, refusal, now)
        self.guards.record(action.target, now)
        if action.dry_run:
            action.status, action.updated_at = "dry_run", now
            action.result = {"would_run": action.details}
            self.audit.add("executed", action, now=now)
            return action
        self.guards.running += 1
        try:
            action.result = await self.kinds[action.name].execute(Plan(action.target, action.details))
        except Exception as exc:  # noqa: BLE001 - any failure of the outside world is audited, not raised
            action.status, action.reason, action.updated_at = "failed", f"{type(exc).__name__}: {exc}", now
            self.audit.add("failed", action, now=now)
            return action
        finally:
            self.guards.running -= 1
        action.status, action.updated_at = "executed", now
        action.verify_by = None if action.verify_within_s is None else now + action.verify_within_s
        self.audit.add("executed", action, now=now)
        return action

    # -- decisions -------------------------------------------------------------

    async def approve(self, action_id: str, *, who: str, now: float) -> Action:
        """A human approves a pending action: it runs now (the guards are asked again)."""
        action = self._pending(action_id, now)
        action.status, action.decided_by, action.updated_at = "approved", who, now
        self.audit.add("approved", action, now=now, who=who)
        return await self._run(action, now)

    def deny(self, action_id: str, *, who: str, now: float, comment: str = "") -> Action:
        action = self._pending(action_id, now)
        action.status, action.decided_by, action.reason, action.updated_at = "denied", who, comment, now
        self.audit.add("denied", action, now=now, who=who)
        return action

    def set_kill_switch(self, engaged: bool, *, who: str, now: float) -> None:
        """Engage (refuse every action, and deny what is pending) or release the kill switch."""
        self.guards.kill_switch = bool(engaged)
        self.audit.add("kill_switch", None, now=now, who=who, engaged=bool(engaged))
        if engaged:
            for action in self.list(status="awaiting_approval"):
                self._refuse(action, "kill switch engaged", now)

    def _pending(self, action_id: str, now: float) -> Action:
        action = self.actions.get(action_id)
        if action is None:
            raise ActionError(f"unknown action {action_id!r}")
        self._expire(now)
        if action.status != "awaiting_approval":
            raise ActionError(f"action {action_id} is {action.status}, not awaiting approval")
        return action

    # -- time ----------------------------------------------------------------

    async def tick(self, now: float, firing: Iterable[str]) -> list[Action]:
        """Expire stale approvals, verify executed actions against the alerts still firing, roll back."""
        firing = set(firing)
        changed = self._expire(now)
        for action in list(self.actions.values()):
            if action.status != "executed" or action.verify_by is None:
                continue
            if action.fingerprint not in firing:
                action.status, action.updated_at = "verified", now
                self.audit.add("verified", action, now=now)
                changed.append(action)
            elif now >= action.verify_by:
                action.status, action.updated_at = "verification_failed", now
                action.reason = "the alert is still firing"
                self.audit.add("verification_failed", action, now=now)
                changed.append(action)
                rollback = await self._rollback(action, now)
                if rollback is not None:
                    changed.append(rollback)
        self._prune(now, firing)
        return changed

    def _prune(self, now: float, firing: set[str]) -> None:
        """Forget request keys of alerts no longer firing and finished actions older than a day."""
        self._requested = {k for k in self._requested if k[1] in firing}
        done = ("refused", "denied", "expired", "dry_run", "failed", "verified", "verification_failed", "rolled_back")
        finished = [i for i, a in self.actions.items()
                    if (a.status in done or (a.status == "executed" and a.verify_by is None))
                    and now - a.updated_at > 86400]
        for action_id in finished:
            del self.actions[action_id]
            self._alerts.pop(action_id, None)

    def _expire(self, now: float) -> list[Action]:
        out = []
        for action in self.actions.values():
            if action.status == "awaiting_approval" and action.expires_at is not None and now >= action.expires_at:
                action.status, action.reason, action.updated_at = "expired", "no decision in time", now
                self.audit.add("expired", action, now=now)
                out.append(action)
        return out

    async def _rollback(self, failed: Action, now: float) -> Action | None:
        name = self.config.actions[failed.name].rollback
        if name is None:
            return None
        kind = self.kinds[name]
        action = Action.new(name=name, kind=kind.kind, target=failed.target, policy=failed.policy,
                            fingerprint=failed.fingerprint, why=f"rollback of {failed.id}", now=now)
        action.dry_run, action.rollback_of = self.config.dry_run, failed.id
        self.actions[action.id] = action
        self._alerts[action.id] = self._alerts[failed.id]
        self.audit.add("requested", action, now=now)
        if self.guards.kill_switch:
            return self._refuse(action, "kill switch engaged", now)
        try:
            plan = kind.prepare(self._alerts[failed.id])
        except ActionRefused as exc:
            return self._refuse(action, str(exc), now)
        action.target, action.details = plan.target, plan.details
        if action.dry_run:
            action.status, action.result = "dry_run", {"would_run": plan.details}
        else:
            try:
                action.result = await kind.execute(plan)
                action.status = "executed"
            except Exception as exc:  # noqa: BLE001 - audited, not raised
                action.status, action.reason = "failed", f"{type(exc).__name__}: {exc}"
        action.updated_at = failed.updated_at = now
        failed.status = "rolled_back"
        self.audit.add("rolled_back", action, now=now, rollback_of=failed.id)
        return action

    # -- persistence -------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Actions, their alerts, request keys and guard history, as JSON-able data."""
        return {"version": 1, "actions": [a.to_dict() for a in self.actions.values()],
                "alerts": {i: a.to_dict() for i, a in self._alerts.items()},
                "requested": [list(k) for k in self._requested], "guards": self.guards.export()}

    def import_state(self, data: dict[str, Any]) -> None:
        """Resume after a restart: pending approvals stay pending, rate limits keep their history."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ActionError("unknown remediation state format")
        try:
            actions = [Action(**a) for a in data["actions"]]
            alerts = {i: Alert.from_dict(a) for i, a in data["alerts"].items()}
        except (KeyError, TypeError) as exc:
            raise ActionError(f"broken remediation state: {exc}") from None
        known = [a for a in actions if a.name in self.kinds]
        self.actions = {a.id: a for a in known}
        self._alerts = {i: alerts[i] for i in self.actions if i in alerts}
        self._requested = {(k[0], k[1], float(k[2])) for k in data.get("requested", [])}
        self.guards.import_(data.get("guards", {}))

    # -- views ---------------------------------------------------------------

    def list(self, status: str | None = None) -> list[Action]:
        items = sorted(self.actions.values(), key=lambda a: a.requested_at)
        return [a for a in items if status is None or a.status == status]

    def drain_audit(self) -> list[dict[str, Any]]:
        """Audit records not yet sent to the audit topic."""
        return self.audit.drain()
