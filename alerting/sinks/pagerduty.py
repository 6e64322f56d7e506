"""PagerDuty Events API v2: one event per alert on ``POST /v2/enqueue``.

``dedup_key`` is the alert's fingerprint, so a retried notification updates
the same PagerDuty incident instead of opening a second one; a firing alert
is a ``trigger``, a resolved one a ``resolve``.

>>> from aiops.alerting.alert import Alert
>>> a = Alert.firing(labels={"alertname": "A", "host": "web-1", "service": "shop"},
...                  annotations={"summary": "cpu high"}, starts_at=0.0, severity="page", score=0.9)
>>> e = pagerduty_event(a, routing_key="k", client_url="")
>>> e["event_action"], e["dedup_key"] == a.fingerprint, e["payload"]["severity"], e["payload"]["source"]
('trigger', True, 'critical', 'web-1')
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from aiops.alerting.alert import SEVERITIES, Alert, Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.http import JsonPoster, encode_json
from aiops.alerting.sinks.render import alert_summary, rfc3339, truncate

_SEVERITY_ALIASES = {"page": "critical", "fatal": "critical", "high": "error", "medium": "warning",
                     "low": "info", "debug": "info"}
MAX_SUMMARY = 1024


class PagerdutySinkConfig(SinkConfig):
    type: Literal["pagerduty"] = Field("pagerduty", description="selects the PagerDuty sink (Events API v2)")
    routing_key: SecretStr = Field(..., description="the integration's routing key (a secret)")
    url: str = Field("https://events.pagerduty.com/v2/enqueue", description="Events API v2 endpoint")
    client: str = Field("aiops", description="client name shown on the incident")
    client_url: str = Field("", description="link back to the product")


def pagerduty_severity(severity: str) -> str:
    """One of PagerDuty's four severities; unknown names become ``warning``.

    >>> pagerduty_severity("ERROR"), pagerduty_severity("nope")
    ('error', 'warning')
    """
    s = severity.lower()
    return s if s in SEVERITIES else _SEVERITY_ALIASES.get(s, "warning")


def pagerduty_event(alert: Alert, *, routing_key: str, client: str = "aiops", client_url: str) -> dict[str, Any]:
    """The Events API v2 body for one alert."""
    labels = alert.labels
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if alert.status == "firing" else "resolve",
        "dedup_key": alert.fingerprint,
        "client": client,
    }
    if client_url:
        event["client_url"] = client_url
    if alert.status == "firing":
        event["payload"] = {
            "summary": truncate(alert_summary(alert), MAX_SUMMARY),
            "source": labels.get("host") or labels.get("instance") or labels.get("series") or "aiops",
            "severity": pagerduty_severity(alert.severity),
            "timestamp": rfc3339(alert.starts_at),
            "component": labels.get("metric") or labels.get("component") or labels.get("series", ""),
            "group": labels.get("service") or labels.get("job", ""),
            "class": labels.get("alertname", "anomaly"),
            "custom_details": {"labels": labels, "annotations": alert.annotations, "score": alert.score,
                               "anomaly_ids": alert.anomaly_ids},
        }
        links = [{"href": alert.annotations[k], "text": k} for k in ("dashboard", "runbook")
                 if alert.annotations.get(k, "").startswith(("http://", "https://"))]
        if links:
            event["links"] = links
    return event


class PagerdutySink:
    """Enqueues each alert of the notification; PagerDuty dedups repeats by ``dedup_key``."""

    kind: ClassVar[str] = "pagerduty"
    config_model: ClassVar[type[SinkConfig]] = PagerdutySinkConfig

    def __init__(self, config: PagerdutySinkConfig) -> None:
        self.config = config
        self._poster = JsonPoster(what=config.name or "pagerduty", timeout_s=config.timeout_s)

    async def send(self, notification: Notification) -> None:
        key = self.config.routing_key.get_secret_value()
        for alert in notification.alerts:
            event = pagerduty_event(alert, routing_key=key, client=self.config.client,
                                    client_url=self.config.client_url)
            await self._poster.post(self.config.url, encode_json(event, what=self._poster.what))

    async def close(self) -> None:
        await self._poster.close()
