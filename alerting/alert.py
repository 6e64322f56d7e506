"""Alerts and notifications: what policy makes of anomalies, and what sinks send.

An ``Alert`` is one problem on one fingerprint (the stable dedup key, made of
the alert's identifying labels), firing until it resolves. A
``Notification`` is what a receiver gets: a group of alerts that share the
route's ``group_by`` labels, sent together.

>>> a = Alert.firing(labels={"alertname": "AnomalyDetected", "series": "cpu|host=a"},
...                  annotations={"summary": "cpu high"}, starts_at=10.0, severity="error", score=0.97)
>>> Alert.from_dict(a.to_dict()) == a
True
>>> a.fingerprint == fingerprint({"series": "cpu|host=a", "alertname": "AnomalyDetected"})
True
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["firing", "resolved"]


def fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit hash of the labels, independent of their order."""
    raw = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


#: Alert severities from the lowest to the highest.
SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(slots=True)
class Alert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: Status
    starts_at: float
    ends_at: float | None = None
    severity: str = "warning"
    score: float = 0.0
    anomaly_ids: list[str] = field(default_factory=list)
    updated_at: float = 0.0

    @classmethod
    def firing(cls, *, labels: dict[str, str], annotations: dict[str, str], starts_at: float,
               severity: str, score: float, anomaly_ids: list[str] | None = None) -> Alert:
        return cls(fingerprint(labels), dict(labels), dict(annotations), "firing", starts_at,
                   None, severity, score, list(anomaly_ids or []), starts_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(**data)


@dataclass(slots=True)
class Notification:
    """One message to one receiver: the alerts of one group, and a dedup key for the send."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Alert]
    sent_at: float = 0.0

    @property
    def status(self) -> Status:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def dedup_key(self) -> str:
        """Same for a retry of the same notification, different for a new state of the group."""
        parts = [self.receiver, self.group_key] + sorted(
            f"{a.fingerprint}:{a.status}:{a.updated_at:.3f}" for a in self.alerts
        )
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data
