"""A successful login for a user, or from an IP, right after a run of failures.

>>> from aiops.detectors.security.config import LoginAfterFailuresConfig
>>> from aiops.detectors.security.auth_events import AuthEvent
>>> d = LoginAfterFailuresDetector(LoginAfterFailuresConfig(min_failures=3))
>>> for t in range(4): _ = d.observe(AuthEvent("failure", float(t), "root", "9.9.9.9"))
>>> [f.kind for f in d.observe(AuthEvent("success", 5.0, "root", "9.9.9.9"))]
['login_after_failures']
>>> d.observe(AuthEvent("success", 6.0, "alice", "10.0.0.1"))
[]
"""

from __future__ import annotations

from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import exceedance_score
from aiops.detectors.security.auth_events import AuthEvent
from aiops.detectors.security.config import LoginAfterFailuresConfig
from aiops.detectors.security.windows import WindowsByKey


class LoginAfterFailuresDetector:
    """Remembers recent failures per user and per IP; a success after enough of them fires."""

    name = "login_after_failures"

    def __init__(self, config: LoginAfterFailuresConfig) -> None:
        self.config = config
        self.by_user = WindowsByKey(config.window_s)
        self.by_ip = WindowsByKey(config.window_s)

    def observe(self, event: AuthEvent) -> list[Finding]:
        if event.kind == "failure":
            if event.user:
                self.by_user.add(event.user, event.time)
            if event.src_ip:
                self.by_ip.add(event.src_ip, event.time)
            return []
        if event.kind != "success":
            return []
        user_window = self.by_user.get(event.user, event.time) if event.user else None
        ip_window = self.by_ip.get(event.src_ip, event.time) if event.src_ip else None
        user_failures = len(user_window) if user_window else 0
        ip_failures = len(ip_window) if ip_window else 0
        failures = max(user_failures, ip_failures)
        if failures < self.config.min_failures:
            return []
        for window in (user_window, ip_window):  # the success ends the run
            if window is not None:
                window.items.clear()
        labels = {k: v for k, v in (("user", event.user), ("src_ip", event.src_ip)) if v}
        return [
            Finding(
                kind="login_after_failures",
                detector=self.name,
                score=exceedance_score(failures, max(self.config.min_failures - 1, 1) * 1.0),
                threshold=0.9,
                reason=(
                    f"successful login of {event.user} from {event.src_ip} after {user_failures} failures "
                    f"for the user and {ip_failures} from the IP within {self.config.window_s:g}s"
                ),
                time=event.time,
                values={"user_failures": float(user_failures), "ip_failures": float(ip_failures)},
                labels=labels,
                key=f"user={event.user}",
            )
        ]
