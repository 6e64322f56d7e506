"""Alert groups and their timers, as in Alertmanager.

A group is the set of alerts of one route that share the route's
``group_by`` labels. Its first notification waits ``group_wait`` (to gather
alerts that arrive together); later ones go out at most every
``group_interval`` and only when something changed (a new firing alert, a
higher severity, a resolution); an unchanged firing group is re-sent every
``repeat_interval``.

>>> from aiops.alerting.alert import Alert
>>> g = AlertGroup(receiver="ops", route_id="0", labels={"host": "a"},
...                group_wait_s=30, group_interval_s=300, repeat_interval_s=3600, now=0)
>>> a = Alert.firing(labels={"host": "a"}, annotations={}, starts_at=0, severity="error", score=0.97)
>>> g.add(a.fingerprint)
>>> g.due(10), g.due(30)
(False, True)
>>> [n.receiver for n in [g.flush([a], now=30)] if n]
['ops']
>>> g.flush([a], now=330) is None          # nothing changed, repeat not due
True
>>> g.flush([a], now=3630) is not None     # repeat_interval elapsed
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from aiops.alerting.alert import SEVERITIES, Alert, Notification

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def copy_alert(alert: Alert) -> Alert:
    """A snapshot of an alert that later updates of the live one do not change."""
    return replace(alert, labels=dict(alert.labels), annotations=dict(alert.annotations),
                   anomaly_ids=list(alert.anomaly_ids))


def group_key(route_id: str, labels: dict[str, str]) -> str:
    """A stable key of a group: its route and its labels."""
    raw = route_id + "\x1f" + "\x1f".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


@dataclass(slots=True)
class AlertGroup:
    receiver: str
    route_id: str
    labels: dict[str, str]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    now: float
    fingerprints: set[str] = field(default_factory=set)
    next_flush_at: float = 0.0
    last_notified_at: float | None = None
    notified_firing: dict[str, str] = field(default_factory=dict)  # fingerprint -> severity sent

    def __post_init__(self) -> None:
        self.next_flush_at = self.now + self.group_wait_s

    @property
    def key(self) -> str:
        return group_key(self.route_id, self.labels)

    def add(self, fp: str) -> None:
        self.fingerprints.add(fp)

    def due(self, now: float) -> bool:
        return bool(self.fingerprints) and now >= self.next_flush_at

    def flush(self, visible: Sequence[Alert], now: float) -> Notification | None:
        """The notification this flush sends (None: nothing to say), and timer/bookkeeping updates.

        ``visible`` are the group's alerts that are not muted; resolved alerts
        are reported only if their firing was notified. Resolved alerts leave
        the group.
        """
        self.next_flush_at = now + self.group_interval_s
        firing = {a.fingerprint: a.severity for a in visible if a.status == "firing"}
        resolved = [a for a in visible if a.status == "resolved" and a.fingerprint in self.notified_firing]
        changed = bool(resolved) or any(
            fp not in self.notified_firing
            or SEVERITY_RANK.get(sev, 0) > SEVERITY_RANK.get(self.notified_firing[fp], 0)
            for fp, sev in firing.items())
        repeat = (bool(firing) and self.last_notified_at is not None
                  and now - self.last_notified_at >= self.repeat_interval_s)
        for a in visible:
            if a.status == "resolved":
                self.fingerprints.discard(a.fingerprint)
                self.notified_firing.pop(a.fingerprint, None)
        if not (changed or repeat):
            return None
        alerts = [copy_alert(a) for a in visible if a.status == "firing" or a in resolved]
        self.notified_firing = dict(firing)
        self.last_notified_at = now
        return Notification(receiver=self.receiver, group_key=self.key, group_labels=dict(self.labels),
                            alerts=sorted(alerts, key=lambda a: a.fingerprint), sent_at=now)

    def drop(self, fp: str) -> None:
        """Forget an alert that left without a notification (resolved while muted)."""
        self.fingerprints.discard(fp)
        self.notified_firing.pop(fp, None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver, "route_id": self.route_id, "labels": self.labels,
            "group_wait_s": self.group_wait_s, "group_interval_s": self.group_interval_s,
            "repeat_interval_s": self.repeat_interval_s, "now": self.now,
            "fingerprints": sorted(self.fingerprints), "next_flush_at": self.next_flush_at,
            "last_notified_at": self.last_notified_at, "notified_firing": self.notified_firing,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertGroup:
        data = dict(data)
        fps, next_flush = set(data.pop("fingerprints")), data.pop("next_flush_at")
        group = cls(**data)
        group.fingerprints, group.next_flush_at = fps, next_flush
        return group
