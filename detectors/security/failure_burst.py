"""Bursts of authentication failures per user and per source IP.

>>> from aiops.detectors.security.config import FailureBurstConfig
>>> from aiops.detectors.security.auth_events import AuthEvent
>>> d = FailureBurstDetector(FailureBurstConfig(per_user=3, per_ip=100))
>>> hits = [d.observe(AuthEvent("failure", float(t), "root", "1.2.3.4")) for t in range(5)]
>>> [len(h) for h in hits]
[0, 0, 1, 0, 0]
>>> hits[2][0].kind, hits[2][0].labels
('auth_failure_burst', {'user': 'root'})
"""

from __future__ import annotations

from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import exceedance_score
from aiops.detectors.security.auth_events import AuthEvent
from aiops.detectors.security.config import FailureBurstConfig
from aiops.detectors.security.windows import WindowsByKey

FAILURES = ("failure", "invalid_user")


class FailureBurstDetector:
    """Counts failures per user and per IP in a sliding window; fires once per burst."""

    name = "auth_failure_burst"

    def __init__(self, config: FailureBurstConfig) -> None:
        self.config = config
        self.by_user = WindowsByKey(config.window_s)
        self.by_ip = WindowsByKey(config.window_s)

    def observe(self, event: AuthEvent) -> list[Finding]:
        if event.kind != "failure":  # "Invalid user" lines precede their own failure line
            return []
        found: list[Finding] = []
        for field, key, windows, limit in (
            ("user", event.user, self.by_user, self.config.per_user),
            ("src_ip", event.src_ip, self.by_ip, self.config.per_ip),
        ):
            if not key:
                continue
            window = windows.add(key, event.time)
            count = len(window)
            if count < limit:
                window.armed = True
                continue
            if not window.armed:
                continue
            window.armed = False
            labels = {field: key}
            found.append(
                Finding(
                    kind="auth_failure_burst",
                    detector=self.name,
                    score=exceedance_score(count, limit - 1) if limit > 1 else 0.99,
                    threshold=0.9,
                    reason=f"{count} authentication failures for {field} {key} within {self.config.window_s:g}s",
                    time=event.time,
                    values={"failures": float(count), "limit": float(limit)},
                    labels=labels,
                    key=f"{field}={key}",
                )
            )
        return found
