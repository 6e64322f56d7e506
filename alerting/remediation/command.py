"""Run an allow-listed program with templated arguments, never through a shell.

Each argv element is rendered on its own (``--host={host}`` works); each
placeholder is filled only from trusted labels and its value must pass the
placeholder's allow-list (``allowed_values``; otherwise ``arg_pattern``, in
full), so label values such as ``web-1; rm -rf /``, ``$(id)`` or ``--all`` are
refused, and even an accepted value stays inside one argument of ``execve``
(``shell=False``).

>>> from aiops.alerting.alert import Alert
>>> from aiops.alerting.remediation.config import CommandActionConfig
>>> action = CommandAction("echo", CommandActionConfig(argv=["/bin/echo", "restart", "{host}"]))
>>> alert = Alert.firing(labels={"host": "web-1"}, annotations={}, starts_at=0, severity="error", score=0.97)
>>> action.prepare(alert).details["argv"]
['/bin/echo', 'restart', 'web-1']
>>> bad = Alert.firing(labels={"host": "web-1; rm -rf /"}, annotations={}, starts_at=0, severity="error", score=1)
>>> action.prepare(bad)  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
...
ActionRefused: host 'web-1; rm -rf /' holds spaces, control or non-ASCII characters
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.action import Plan
from aiops.alerting.remediation.arguments import action_allow_lists, default_allow_list, fill, trusted_values
from aiops.alerting.remediation.config import CommandActionConfig

SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class CommandAction:
    kind = "command"
    config_model = CommandActionConfig

    def __init__(self, name: str, config: CommandActionConfig) -> None:
        self.name = name
        self.config = config
        self.allow = action_allow_lists(config)
        self.default = default_allow_list(config.arg_pattern)

    def prepare(self, alert: Alert) -> Plan:
        values = trusted_values(alert, tuple(self.config.extra_labels))
        argv = [self.config.argv[0]] + [fill(t, values, self.allow, self.default) for t in self.config.argv[1:]]
        target = fill(self.config.target, values, self.allow, self.default)
        return Plan(target=target, details={"argv": argv})

    async def execute(self, plan: Plan) -> dict[str, Any]:
        argv = list(plan.details["argv"])
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=SAFE_ENV)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.config.timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"{argv[0]} timed out after {self.config.timeout_s}s") from None
        limit = self.config.max_output_bytes
        result = {"argv": argv, "returncode": proc.returncode,
                  "stdout": out[:limit].decode(errors="replace"), "stderr": err[:limit].decode(errors="replace")}
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {result['stderr'][:200]}")
        return result
