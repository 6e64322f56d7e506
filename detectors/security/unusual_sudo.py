"""sudo/su by a user who is neither allowed nor was seen escalating while learning.

>>> from aiops.detectors.security.config import UnusualSudoConfig
>>> from aiops.detectors.security.auth_events import AuthEvent
>>> d = UnusualSudoDetector(UnusualSudoConfig(allowed_users=["root"], learning_s=100))
>>> d.observe(AuthEvent("escalation", 0.0, "deploy", None, target_user="root"))
[]
>>> d.observe(AuthEvent("escalation", 200.0, "deploy", None, target_user="root"))
[]
>>> [f.kind for f in d.observe(AuthEvent("escalation", 300.0, "mallory", None, target_user="root"))]
['unusual_sudo']
"""

from __future__ import annotations

from aiops.detectors.logs.finding import Finding
from aiops.detectors.security.auth_events import AuthEvent
from aiops.detectors.security.config import UnusualSudoConfig


class UnusualSudoDetector:
    """Users seen escalating during the learning period, plus the allow-list, are normal."""

    name = "unusual_sudo"

    def __init__(self, config: UnusualSudoConfig) -> None:
        self.config = config
        self.learned: set[str] = set()
        self.started: float | None = None

    def observe(self, event: AuthEvent) -> list[Finding]:
        if event.kind != "escalation" or not event.user:
            return []
        if self.started is None:
            self.started = event.time
        if event.user in self.config.allowed_users or event.user in self.learned:
            return []
        if event.time - self.started < self.config.learning_s:
            self.learned.add(event.user)
            return []
        target = event.target_user or "?"
        return [
            Finding(
                kind="unusual_sudo",
                detector=self.name,
                score=0.97,
                threshold=0.9,
                reason=f"{event.user} escalated to {target}, which this user was not seen doing before",
                time=event.time,
                values={"known_escalating_users": float(len(self.learned))},
                labels={"user": event.user, "target_user": target},
                key=f"user={event.user}",
            )
        ]
