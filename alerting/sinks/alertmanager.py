"""Prometheus Alertmanager: POST ``{url}/api/v2/alerts`` (its documented v2 alert list).

Each alert becomes ``{labels, annotations, startsAt, endsAt, generatorURL}``;
a resolved alert carries its ``endsAt`` so Alertmanager resolves it. The
alert's severity joins the labels when they have none; label names are made
valid Prometheus names.

>>> from aiops.alerting.alert import Alert
>>> a = Alert.firing(labels={"alertname": "A", "host.name": "web-1"}, annotations={"summary": "s"},
...                  starts_at=0.0, severity="error", score=0.9)
>>> body = alertmanager_alert(a, generator_url="http://aiops/alerts")
>>> body["labels"], "endsAt" in body
({'alertname': 'A', 'host_name': 'web-1', 'severity': 'error'}, False)
>>> a.status, a.ends_at = "resolved", 60.0
>>> alertmanager_alert(a, generator_url="")["endsAt"]
'1970-01-01T00:01:00Z'
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from aiops.alerting.alert import Alert, Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.http import JsonPoster, encode_json
from aiops.alerting.sinks.render import rfc3339

_BAD_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """A valid Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``).

    >>> label_name("host.name"), label_name("9lives")
    ('host_name', '_9lives')
    """
    clean = _BAD_LABEL_CHARS.sub("_", name)
    return clean if clean and not clean[0].isdigit() else "_" + clean


class AlertmanagerSinkConfig(SinkConfig):
    type: Literal["alertmanager"] = Field("alertmanager",
            description="selects the Alertmanager sink (posts to /api/v2/alerts)")
    url: str = Field("http://127.0.0.1:9093", description="Alertmanager base URL")
    username: str | None = Field(None, description="HTTP basic auth user (null: none)")
    password: SecretStr | None = Field(None, description="HTTP basic auth password; write ${NAME}")
    generator_url: str = Field("", description="link back to the product, sent as generatorURL")


def basic_auth(username: str, password: SecretStr | None) -> str:
    """An HTTP Basic ``Authorization`` value.

    >>> basic_auth("u", SecretStr("p"))
    'Basic dTpw'
    """
    raw = f"{username}:{password.get_secret_value() if password else ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def alertmanager_alert(alert: Alert, *, generator_url: str) -> dict[str, Any]:
    """One alert in Alertmanager's v2 ``postableAlert`` shape."""
    labels = {label_name(k): str(v) for k, v in alert.labels.items() if str(v) != ""}
    labels.setdefault("severity", alert.severity)
    annotations = {label_name(k): str(v) for k, v in alert.annotations.items()}
    annotations.setdefault("score", f"{alert.score:.4f}")
    body: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": rfc3339(alert.starts_at)}
    if alert.status == "resolved":
        body["endsAt"] = rfc3339(alert.ends_at if alert.ends_at is not None else alert.updated_at)
    if generator_url:
        body["generatorURL"] = generator_url
    return body


class AlertmanagerSink:
    """Posts every alert of the notification in one request."""

    kind: ClassVar[str] = "alertmanager"
    config_model: ClassVar[type[SinkConfig]] = AlertmanagerSinkConfig

    def __init__(self, config: AlertmanagerSinkConfig) -> None:
        self.config = config
        self._poster = JsonPoster(what=config.name or "alertmanager", timeout_s=config.timeout_s)
        self._headers = {"Authorization": basic_auth(config.username, config.password)} if config.username else {}

    async def send(self, notification: Notification) -> None:
        alerts = [alertmanager_alert(a, generator_url=self.config.generator_url) for a in notification.alerts]
        await self._poster.post(self.config.url.rstrip("/") + "/api/v2/alerts",
                                encode_json(alerts, what=self._poster.what), self._headers)

    async def close(self) -> None:
        await self._poster.close()
