"""Slack incoming webhook with a Block Kit message (header, section with fields, context).

The message keeps to Slack's documented limits: header plain_text <= 150
characters, section text <= 3000, <= 10 fields of <= 2000, <= 50 blocks; the
top-level ``text`` is the fallback for notifications.

>>> from aiops.alerting.alert import Alert, Notification
>>> a = Alert.firing(labels={"alertname": "A"}, annotations={"summary": "cpu high"},
...                  starts_at=0.0, severity="error", score=0.9)
>>> msg = slack_message(Notification("sre", "g", {"alertname": "A"}, [a]))
>>> [b["type"] for b in msg["blocks"]], msg["text"]
(['header', 'section', 'section', 'context'], '[FIRING:1] A')
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from aiops.alerting.alert import Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.http import JsonPoster, encode_json
from aiops.alerting.sinks.render import alert_line, rfc3339, title, truncate

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ALERT_SECTIONS = 40
_ICONS = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:",
          "info": ":large_blue_circle:"}


class SlackSinkConfig(SinkConfig):
    type: Literal["slack"] = Field("slack",
            description="selects the Slack sink (incoming webhook, Block Kit message)")
    webhook_url: SecretStr = Field(..., description="the incoming webhook URL (a secret)")
    dashboard_url: str = Field("", description="link shown in the context line")


def _mrkdwn(text: str, limit: int) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _fields(notification: Notification) -> list[dict[str, str]]:
    worst = max(notification.alerts, key=lambda a: a.score) if notification.alerts else None
    pairs = [("Status", notification.status), ("Alerts", str(len(notification.alerts)))]
    if worst is not None:
        pairs += [("Severity", worst.severity), ("Top score", f"{worst.score:.3f}"),
                  ("Since", rfc3339(min(a.starts_at for a in notification.alerts)))]
    pairs += [(k, v) for k, v in sorted(notification.group_labels.items())]
    return [_mrkdwn(f"*{k}*\n{v}", MAX_FIELD_TEXT) for k, v in pairs[:MAX_FIELDS]]


def slack_message(notification: Notification, *, dashboard_url: str = "") -> dict[str, Any]:
    """The webhook body: fallback ``text`` plus Block Kit ``blocks`` within Slack's limits."""
    head = title(notification)
    summary = "\n".join(f"{_ICONS.get(a.severity, '')} {a.annotations.get('summary', a.labels.get('alertname', ''))}"
                        for a in notification.alerts[:10])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(head, MAX_HEADER), "emoji": True}},
        {"type": "section", "text": _mrkdwn(summary or head, MAX_SECTION_TEXT), "fields": _fields(notification)},
    ]
    shown = notification.alerts[:MAX_ALERT_SECTIONS]
    for alert in shown:
        lines = [alert_line(alert)] + [f"*{k}*: {v}" for k, v in sorted(alert.labels.items())]
        if alert.annotations.get("runbook"):
            lines.append(f"<{alert.annotations['runbook']}|runbook>")
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(lines), MAX_SECTION_TEXT)})
    context = [f"receiver *{notification.receiver}*", f"group `{notification.group_key}`"]
    if len(notification.alerts) > len(shown):
        context.append(f"and {len(notification.alerts) - len(shown)} more alerts")
    if dashboard_url:
        context.append(f"<{dashboard_url}|dashboard>")
    blocks.append({"type": "context", "elements": [_mrkdwn(c, MAX_FIELD_TEXT) for c in context]})
    return {"text": truncate(head, MAX_SECTION_TEXT), "blocks": blocks[:MAX_BLOCKS]}


class SlackSink:
    """Posts one Block Kit message per notification."""

    kind: ClassVar[str] = "slack"
    config_model: ClassVar[type[SinkConfig]] = SlackSinkConfig

    def __init__(self, config: SlackSinkConfig) -> None:
        self.config = config
        self._poster = JsonPoster(what=config.name or "slack", timeout_s=config.timeout_s)

    async def send(self, notification: Notification) -> None:
        body = encode_json(slack_message(notification, dashboard_url=self.config.dashboard_url), what=self._poster.what)
        await self._poster.post(self.config.webhook_url.get_secret_value(), body)

    async def close(self) -> None:
        await self._poster.close()
