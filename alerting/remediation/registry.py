"""The registry of action kinds: built-ins by name, plus ``aiops.action`` entry points.

An action class carries its ``config_model``; a package adds an action with
one entry point naming the class (the plural ``aiops.actions`` group is still
read, deprecated).

>>> ACTIONS.names()
['command', 'kubernetes', 'webhook']
>>> ACTIONS.load("command").__name__
'CommandAction'
"""

from __future__ import annotations

from typing import Any

from aiops.detectors.core.registry import Registry

BUILTIN_ACTIONS = {
    "webhook": "aiops.alerting.remediation.webhook:WebhookAction",
    "command": "aiops.alerting.remediation.command:CommandAction",
    "kubernetes": "aiops.alerting.remediation.kubernetes:KubernetesAction",
}

ACTIONS = Registry("action", BUILTIN_ACTIONS, deprecated_groups=("aiops.actions",))


def build_action(name: str, config: Any) -> Any:
    """An action kind instance for one configured action (``config.type`` picks the kind)."""
    return ACTIONS.load(config.type)(name, config)
