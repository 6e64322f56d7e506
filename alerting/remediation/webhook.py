"""Call an HTTP endpoint (aiohttp) with a JSON body made from the alert.

Values placed in the URL are percent-quoted; body values are JSON strings.

>>> from aiops.alerting.alert import Alert
>>> from aiops.alerting.remediation.config import WebhookActionConfig
>>> hook = WebhookAction("hook", WebhookActionConfig(url="http://ops/restart?host={host}",
...                                                  body={"host": "{host}", "why": "{summary}"},
...                                                  allowed_values={"host": {"pattern": "^[a-z&]+$"}}))
>>> alert = Alert.firing(labels={"host": "a&b"}, annotations={"summary": "cpu"}, starts_at=0,
...                      severity="error", score=0.97)
>>> hook.prepare(alert).details
{'method': 'POST', 'url': 'http://ops/restart?host=a%26b', 'body': {'host': 'a&b', 'why': 'cpu'}}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.action import Plan
from aiops.alerting.remediation.arguments import (
    DEFAULT_VALUE_PATTERN,
    FREE_TEXT,
    action_allow_lists,
    default_allow_list,
    fill,
    trusted_values,
)
from aiops.alerting.remediation.config import WebhookActionConfig


class WebhookAction:
    kind = "webhook"
    config_model = WebhookActionConfig

    def __init__(self, name: str, config: WebhookActionConfig) -> None:
        self.name = name
        self.config = config

    def prepare(self, alert: Alert) -> Plan:
        values = trusted_values(alert, tuple(self.config.extra_labels))
        allow, default = action_allow_lists(self.config), default_allow_list(DEFAULT_VALUE_PATTERN)
        free = {k: alert.annotations.get(k, "") for k in FREE_TEXT}
        details = {"method": self.config.method,
                   "url": fill(self.config.url, values, allow, default, encode=lambda v: quote(v, safe="")),
                   "body": {k: fill(v, values, allow, default, free=free) for k, v in self.config.body.items()}}
        return Plan(target=fill(self.config.target, values, allow, default), details=details)

    async def execute(self, plan: Plan) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(plan.details["method"], plan.details["url"], json=plan.details["body"],
                                       headers=self.config.headers) as resp:
                text = (await resp.text())[:2000]
                if resp.status >= 400:
                    raise RuntimeError(f"webhook answered HTTP {resp.status}: {text[:200]}")
                return {"status": resp.status, "body": text}
