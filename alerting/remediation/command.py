"""Run an allow-listed program with templated arguments, never through a shell.

Each argv element is rendered on its own; an element that contains a
placeholder must match the action's ``arg_pattern`` in full after rendering,
so label values such as ``web-1; rm -rf /`` or ``$(id)`` are refused, and
even an accepted value stays one argument of ``execve`` (``shell=False``).

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
ActionRefused: argument 2 'web-1; rm -rf /' does not match ^[A-Za-z0-9_][A-Za-z0-9._:@=+-]{0,127}$
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.action import ActionRefused, Plan, template_values
from aiops.alerting.remediation.config import CommandActionConfig
from aiops.alerting.templates import render

SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class CommandAction:
    kind = "command"

    def __init__(self, name: str, config: CommandActionConfig) -> None:
        self.name = name
        self.config = config
        self.pattern = re.compile(config.arg_pattern)

    def prepare(self, alert: Alert) -> Plan:
        values = template_values(alert)
        argv = [self.config.argv[0]]
        for i, template in enumerate(self.config.argv[1:], start=1):
            if "{" not in template:
                argv.append(template)
                continue
            arg = render(template, values)
            if not self.pattern.fullmatch(arg):
                raise ActionRefused(f"argument {i} {arg!r} does not match {self.config.arg_pattern}")
            argv.append(arg)
        target = render(self.config.target, values)
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
