"""The registry of action kinds (built-ins by name, plus ``aiops.actions`` entry points).

>>> ACTIONS.names()
['command', 'kubernetes', 'webhook']
>>> ACTIONS.load("command").__name__
'CommandAction'
"""

from __future__ import annotations

from typing import Any

from aiops.detectors.core.registry import Registry

ACTIONS = Registry("actions", {
    "webhook": "aiops.alerting.remediation.webhook:WebhookAction",
    "command": "aiops.alerting.remediation.command:CommandAction",
    "kubernetes": "aiops.alerting.remediation.kubernetes:KubernetesAction",
})


def build_action(name: str, config: Any) -> Any:
    """An action kind instance for one configured action (``config.type`` picks the kind)."""
    return ACTIONS.load(config.type)(name, config)
