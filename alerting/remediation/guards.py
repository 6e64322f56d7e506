"""The guards around remediation: kill switch, allow-listed targets, rate limits
with cooldown, and a cap on concurrent actions.

>>> from aiops.alerting.remediation.config import RemediationConfig, RateLimit
>>> g = Guards(RemediationConfig(per_target_limit=RateLimit(max_actions=1, window_s=60), cooldown_s=0))
>>> g.allowed_target("web-1", ["web-*"]), g.allowed_target("db-1", ["web-*"])
(True, False)
>>> g.rate_limited("web-1", now=0) is None
True
>>> g.record("web-1", now=0)
>>> g.rate_limited("web-1", now=30)
'target web-1: 1 actions in the last 60s (limit 1)'
"""

from __future__ import annotations

import fnmatch
from collections import deque

from aiops.alerting.remediation.config import RemediationConfig


class Guards:
    """Decides whether one more action may run now; the remediator asks before and records after."""

    def __init__(self, config: RemediationConfig) -> None:
        self.config = config
        self.kill_switch = config.kill_switch
        self.running = 0
        self._by_target: dict[str, deque[float]] = {}
        self._global: deque[float] = deque()
        self._last_on_target: dict[str, float] = {}

    @staticmethod
    def allowed_target(target: str, patterns: list[str]) -> bool:
        """Is the target on the action's allow-list (glob patterns; empty allows nothing)?"""
        return bool(target) and any(fnmatch.fnmatchcase(target, p) for p in patterns)

    def rate_limited(self, target: str, now: float) -> str | None:
        """Why another action on ``target`` must wait now (None: it may run)."""
        last = self._last_on_target.get(target)
        if last is not None and now - last < self.config.cooldown_s:
            return f"target {target}: cooling down for {self.config.cooldown_s - (now - last):.0f}s more"
        per = self.config.per_target_limit
        recent = self._trim(self._by_target.get(target, deque()), now, per.window_s)
        if len(recent) >= per.max_actions:
            return f"target {target}: {len(recent)} actions in the last {per.window_s:.0f}s (limit {per.max_actions})"
        glob = self.config.global_limit
        self._trim(self._global, now, glob.window_s)
        if len(self._global) >= glob.max_actions:
            return f"global: {len(self._global)} actions in the last {glob.window_s:.0f}s (limit {glob.max_actions})"
        return None

    def concurrency_full(self) -> bool:
        return self.running >= self.config.max_concurrent

    def record(self, target: str, now: float) -> None:
        """Count an action that ran (or ran dry) on ``target``."""
        self._by_target.setdefault(target, deque()).append(now)
        self._global.append(now)
        self._last_on_target[target] = now

    def export(self) -> dict:
        return {"kill_switch": self.kill_switch, "by_target": {t: list(v) for t, v in self._by_target.items() if v},
                "global": list(self._global), "last_on_target": dict(self._last_on_target)}

    def import_(self, data: dict) -> None:
        self.kill_switch = bool(data.get("kill_switch", self.kill_switch))
        self._by_target = {t: deque(v) for t, v in data.get("by_target", {}).items()}
        self._global = deque(data.get("global", []))
        self._last_on_target = dict(data.get("last_on_target", {}))

    @staticmethod
    def _trim(times: deque[float], now: float, window: float) -> deque[float]:
        while times and times[0] <= now - window:
            times.popleft()
        return times
