"""Password spraying: one source IP trying many distinct users in a window.

>>> from aiops.detectors.security.config import SprayingConfig
>>> from aiops.detectors.security.auth_events import AuthEvent
>>> d = SprayingDetector(SprayingConfig(distinct_users=3))
>>> hits = [d.observe(AuthEvent("failure", float(t), u, "6.6.6.6")) for t, u in enumerate("aabcd")]
>>> [len(h) for h in hits], hits[3][0].values["distinct_users"]
([0, 0, 0, 1, 0], 3.0)
"""

from __future__ import annotations

from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import exceedance_score
from aiops.detectors.security.auth_events import AuthEvent
from aiops.detectors.security.config import SprayingConfig
from aiops.detectors.security.windows import WindowsByKey


class SprayingDetector:
    """Distinct users per source IP over failures and invalid-user attempts; fires once per burst."""

    name = "password_spraying"

    def __init__(self, config: SprayingConfig) -> None:
        self.config = config
        self.by_ip = WindowsByKey(config.window_s)

    def observe(self, event: AuthEvent) -> list[Finding]:
        if event.kind not in ("failure", "invalid_user") or not event.src_ip or not event.user:
            return []
        window = self.by_ip.add(event.src_ip, event.time, event.user)
        users = window.distinct()
        limit = self.config.distinct_users
        if len(users) < limit:
            window.armed = True
            return []
        if not window.armed:
            return []
        window.armed = False
        shown = ", ".join(sorted(str(u) for u in users)[:5])
        return [
            Finding(
                kind="password_spraying",
                detector=self.name,
                score=exceedance_score(len(users), limit - 1),
                threshold=0.9,
                reason=(
                    f"{event.src_ip} tried {len(users)} distinct users within "
                    f"{self.config.window_s:g}s ({shown}{', ...' if len(users) > 5 else ''})"
                ),
                time=event.time,
                values={"distinct_users": float(len(users)), "attempts": float(len(window))},
                labels={"src_ip": event.src_ip, "user": event.user},
                key=f"src_ip={event.src_ip}",
            )
        ]
