"""Call an HTTP endpoint (aiohttp) with a JSON body made from the alert.

Values placed in the URL are percent-quoted; body values are JSON strings.

>>> from aiops.alerting.alert import Alert
>>> from aiops.alerting.remediation.config import WebhookActionConfig
>>> hook = WebhookAction("hook", WebhookActionConfig(url="http://ops/restart?host={host}",
...                                                  body={"host": "{host}", "why": "{summary}"}))
>>> alert = Alert.firing(labels={"host": "a&b"}, annotations={"summary": "cpu"}, starts_at=0,
...                      severity="error", score=0.97)
>>> hook.prepare(alert).details
{'method': 'POST', 'url': 'http://ops/restart?host=a%26b', 'body': {'host': 'a&b', 'why': 'cpu'}}
"""

from __future__ import annotations

from typing import Any

import aiohttp

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.action import Plan, template_values
from aiops.alerting.remediation.config import WebhookActionConfig
from aiops.alerting.templates import render, render_url


class WebhookAction:
    kind = "webhook"

    def __init__(self, name: str, config: WebhookActionConfig) -> None:
        self.name = name
        self.config = config

    def prepare(self, alert: Alert) -> Plan:
        values = template_values(alert)
        details = {"method": self.config.method, "url": render_url(self.config.url, values),
                   "body": {k: render(v, values) for k, v in self.config.body.items()}}
        return Plan(target=render(self.config.target, values), details=details)

    async def execute(self, plan: Plan) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(plan.details["method"], plan.details["url"], json=plan.details["body"],
                                       headers=self.config.headers) as resp:
                text = (await resp.text())[:2000]
                if resp.status >= 400:
                    raise RuntimeError(f"webhook answered HTTP {resp.status}: {text[:200]}")
                return {"status": resp.status, "body": text}
