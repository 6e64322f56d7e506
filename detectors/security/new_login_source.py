"""A successful login from a source IP never seen for that user, once the user is learned.

>>> from aiops.detectors.security.config import NewLoginSourceConfig
>>> from aiops.detectors.security.auth_events import AuthEvent
>>> d = NewLoginSourceDetector(NewLoginSourceConfig(learning_logins=2, learning_s=0))
>>> [d.observe(AuthEvent("success", float(t), "bob", "10.0.0.1")) for t in range(3)]
[[], [], []]
>>> [f.kind for f in d.observe(AuthEvent("success", 9.0, "bob", "203.0.113.5"))]
['new_login_source']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiops.detectors.logs.finding import Finding
from aiops.detectors.security.auth_events import AuthEvent
from aiops.detectors.security.config import NewLoginSourceConfig


@dataclass(slots=True)
class _UserHabits:
    first_login: float
    logins: int = 0
    sources: set[str] = field(default_factory=set)


class NewLoginSourceDetector:
    """Source IPs of each user's successful logins; a new one after learning fires."""

    name = "new_login_source"

    def __init__(self, config: NewLoginSourceConfig) -> None:
        self.config = config
        self.users: dict[str, _UserHabits] = {}

    def observe(self, event: AuthEvent) -> list[Finding]:
        if event.kind != "success" or not event.user or not event.src_ip:
            return []
        habits = self.users.get(event.user)
        if habits is None:
            habits = self.users[event.user] = _UserHabits(first_login=event.time)
        learned = (
            habits.logins >= self.config.learning_logins
            and event.time - habits.first_login >= self.config.learning_s
        )
        found: list[Finding] = []
        if learned and event.src_ip not in habits.sources:
            known = ", ".join(sorted(habits.sources)[:5])
            found.append(
                Finding(
                    kind="new_login_source",
                    detector=self.name,
                    score=0.95,
                    threshold=0.9,
                    reason=f"{event.user} logged in from {event.src_ip}, never seen for this user (known: {known})",
                    time=event.time,
                    values={"known_sources": float(len(habits.sources)), "logins": float(habits.logins)},
                    labels={"user": event.user, "src_ip": event.src_ip},
                    key=f"user={event.user}",
                )
            )
        habits.logins += 1
        if len(habits.sources) < self.config.max_sources_per_user:
            habits.sources.add(event.src_ip)
        return found
