"""Text every sink shares: a title, one line per alert, RFC 3339 times.

>>> from aiops.alerting.alert import Alert, Notification
>>> a = Alert.firing(labels={"alertname": "AnomalyDetected", "series": "cpu|host=a"},
...                  annotations={"summary": "cpu high"}, starts_at=0.0, severity="error", score=0.97)
>>> n = Notification("sre", "g1", {"alertname": "AnomalyDetected"}, [a])
>>> title(n)
'[FIRING:1] AnomalyDetected'
>>> alert_line(a)
'error cpu high (score 0.970, since 1970-01-01T00:00:00Z)'
>>> rfc3339(1.5)
'1970-01-01T00:00:01.500000Z'
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiops.alerting.alert import Alert, Notification


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC time (microseconds only when needed)."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return dt.strftime(fmt)


def title(notification: Notification) -> str:
    """Alertmanager-style title: status, count of alerts in that status, group label values."""
    status = notification.status
    count = sum(1 for a in notification.alerts if a.status == status)
    labels = " ".join(notification.group_labels[k] for k in sorted(notification.group_labels))
    return f"[{status.upper()}:{count}] {labels or notification.group_key}".rstrip()


def alert_summary(alert: Alert) -> str:
    """The alert's summary annotation, else its alertname and series."""
    if alert.annotations.get("summary"):
        return alert.annotations["summary"]
    name = alert.labels.get("alertname", "alert")
    series = alert.labels.get("series") or alert.labels.get("instance") or alert.fingerprint
    return f"{name} on {series}"


def alert_line(alert: Alert) -> str:
    """One line: severity, summary, score and since when (or until when, resolved)."""
    when = (f"resolved {rfc3339(alert.ends_at)}" if alert.status == "resolved" and alert.ends_at is not None
            else f"since {rfc3339(alert.starts_at)}")
    return f"{alert.severity} {alert_summary(alert)} (score {alert.score:.3f}, {when})"


def explanation(alert: Alert) -> list[str]:
    """Why the alert fired, one fact a line: what was seen, which detectors, the episode's span and end.

    >>> from aiops.alerting.alert import Alert
    >>> a = Alert.firing(labels={}, annotations={"description": "user=97 (expected 10..30). zscore fired",
    ...                  "observed_vs_expected": "user=97 (expected 10..30)", "detectors": "zscore 0.99",
    ...                  "ended": "the series returned to its baseline"}, starts_at=0.0, severity="error", score=0.99)
    >>> print("\\n".join(explanation(a)))
    why: user=97 (expected 10..30). zscore fired
    detectors: zscore 0.99
    episode began 1970-01-01T00:00:00Z, ended: the series returned to its baseline
    """
    notes = alert.annotations
    lines = []
    description = notes.get("description", "")
    if description:
        lines.append(f"why: {description}")
    seen = notes.get("observed_vs_expected", "")
    if seen and seen != "no values" and seen not in description:
        lines.append(f"observed: {seen}")
    if notes.get("detectors"):
        lines.append(f"detectors: {notes['detectors']}")
    if notes.get("surprise"):
        lines.append(f"anomaly score: {notes['surprise']}")
    episode = f"episode began {rfc3339(alert.starts_at)}"
    if alert.status == "resolved" and alert.ends_at is not None:
        episode += f", resolved {rfc3339(alert.ends_at)}"
    if notes.get("ended"):
        episode += f", ended: {notes['ended']}"
    return [*lines, episode]


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending with an ellipsis when cut.

    >>> truncate("abcdef", 4), truncate("abc", 4)
    ('abc…', 'abc')
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"
