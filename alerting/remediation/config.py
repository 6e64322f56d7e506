"""Settings of guarded auto-remediation: actions, policies and guards.

Every guard is on by default: nothing runs for real (``dry_run``), no target is
allowed until listed, approval is required, rate limits and a concurrency cap
apply.

>>> c = RemediationConfig.model_validate({
...     "allowed_programs": ["/bin/echo"],
...     "actions": {"echo": {"type": "command", "argv": ["/bin/echo", "{host}"],
...                          "allowed_targets": ["web-*"]}},
...     "policies": [{"name": "cpu", "matchers": ["host=~web-.*"], "action": "echo"}]})
>>> c.dry_run, c.require_approval, c.actions["echo"].target
(True, True, '{host}')

An action's ``type`` picks its class in the action registry, and that class's
``config_model`` (a subclass of ``ActionConfig``) validates the entry, so an
action added by a plugin package is configured like a built-in one.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aiops.alerting.matchers import check_matchers
from aiops.alerting.plugin_config import ConfigByType
from aiops.alerting.remediation.registry import ACTIONS, BUILTIN_ACTIONS


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueAllowList(_Model):
    """What one placeholder may be: exactly one of an explicit set, an inventory file, an anchored pattern."""

    values: list[str] | None = Field(None, description="the allowed values")
    inventory: str | None = Field(None, description="file with one allowed value per line ('#' comments)")
    pattern: str | None = Field(None, description="anchored regular expression (^...$)")

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueAllowList:
        try:
            self.build()
        except (ValueError, re.error) as exc:
            raise ValueError(str(exc)) from None
        return self

    def build(self):  # noqa: ANN201 - AllowList
        from aiops.alerting.remediation.arguments import AllowList

        if self.pattern is not None:
            re.compile(self.pattern)
            if not (self.pattern.startswith("^") and self.pattern.endswith("$")):
                raise ValueError(f"allow-list pattern {self.pattern!r} must be anchored (^...$)")
        return AllowList(values=None if self.values is None else frozenset(self.values), inventory=self.inventory,
                         pattern=self.pattern)


class ActionConfig(_Model):
    """Keys every action has; each kind adds ``type: Literal[kind]`` and its own."""

    target: str = Field("{host}", description="template naming what the action acts on (kubernetes: namespace/deployment)")
    allowed_targets: list[str] = Field(default_factory=list, description="glob patterns; empty allows nothing")
    allowed_values: dict[str, ValueAllowList] = Field(
        default_factory=dict, description="per placeholder: the values it may take (others: the default pattern)")
    extra_labels: list[str] = Field(
        default_factory=list, description="labels besides the trusted ones placeholders may read; each needs allowed_values")

    @model_validator(mode="after")
    def _placeholders_are_trusted(self) -> ActionConfig:
        from aiops.alerting.remediation.arguments import TRUSTED_LABELS, placeholders

        known = {*TRUSTED_LABELS, "severity", "fingerprint", *self.extra_labels}
        for label in self.extra_labels:
            if label not in self.allowed_values:
                raise ValueError(f"extra label {label!r} needs an entry in allowed_values")
        for template in self._templates():
            for name in placeholders(template):
                if name not in known:
                    raise ValueError(f"placeholder {{{name}}} in {template!r} is not a trusted label "
                                     f"({', '.join(sorted(known))}); add it to extra_labels with allowed_values")
        return self

    def _templates(self) -> list[str]:
        return [self.target]
    rollback: str | None = Field(None, description="action to run when verification fails")
    timeout_s: float = Field(30.0, gt=0, description="longest the action may run")


class WebhookActionConfig(ActionConfig):
    """POST (or another method) a JSON body to a URL; templates fill url and body strings."""

    type: Literal["webhook"] = Field("webhook", description="selects the webhook action")
    url: str = Field(description="URL template")
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE"] = Field("POST", description="HTTP method")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers sent with the request")
    body: dict[str, str] = Field(default_factory=dict, description="JSON body; each value is a template")

    def _templates(self) -> list[str]:
        from aiops.alerting.remediation.arguments import FREE_TEXT

        # a body value may also carry the alert's free text ({summary}, {description}): JSON strings, never targets
        body = [t for t in self.body.values() if not (set(_names(t)) & set(FREE_TEXT))]
        return [self.target, self.url, *body]


class CommandActionConfig(ActionConfig):
    """Run an allow-listed program with templated arguments (argv list, never a shell)."""

    type: Literal["command"] = Field("command", description="selects the command action")
    argv: list[str] = Field(min_length=1,
            description="program (an absolute path in allowed_programs) and argument templates")
    arg_pattern: str = Field(r"^[A-Za-z0-9_][A-Za-z0-9._:@=+-]{0,127}$",
                             description="a placeholder value without allowed_values must match this, whole")
    max_output_bytes: int = Field(4096, ge=0, description="output of the program kept in the audit record")

    def _templates(self) -> list[str]:
        return [self.target, *self.argv[1:]]

    @field_validator("argv")
    @classmethod
    def _program_is_fixed(cls, argv: list[str]) -> list[str]:
        if "{" in argv[0] or not argv[0].startswith("/"):
            raise ValueError("argv[0] must be an absolute program path without placeholders")
        return argv


class KubernetesActionConfig(ActionConfig):
    """Rollout-restart or scale a Deployment through the Kubernetes API."""

    type: Literal["kubernetes"] = Field("kubernetes", description="selects the Kubernetes action")
    operation: Literal["restart", "scale"] = Field(description="rollout restart or scale")
    namespace: str = Field("default", description="namespace template")
    deployment: str = Field("{service}", description="Deployment name template")
    replicas: int | None = Field(None, ge=0, le=1000, description="replicas to scale to (scale)")
    name_pattern: str = Field(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
                              description="rendered namespace and deployment must match (RFC 1123)")
    api_url: str | None = Field(None, description="API server URL; None: kubeconfig or in-cluster")

    def _templates(self) -> list[str]:
        return [self.namespace, self.deployment]
    token: SecretStr | None = Field(None, description="bearer token of the API server; write ${NAME}")
    ca_file: str | None = Field(None, description="CA bundle of the API server")
    verify_ssl: bool = Field(True, description="verify the API server's certificate")
    kubeconfig: str | None = Field(None, description="kubeconfig file (null: the default one)")
    in_cluster: bool = Field(False, description="use the pod's service account")

    @model_validator(mode="after")
    def _scale_needs_replicas(self) -> KubernetesActionConfig:
        if self.operation == "scale" and self.replicas is None:
            raise ValueError("operation 'scale' needs replicas")
        return self


def _names(template: str) -> list[str]:
    from aiops.alerting.remediation.arguments import placeholders

    return placeholders(template)


ACTION_CONFIGS = ConfigByType(ACTIONS, ActionConfig, documented=tuple(BUILTIN_ACTIONS))
ActionConfigByType = ACTION_CONFIGS.annotation()


class RemediationPolicyConfig(_Model):
    """When an alert matches, request an action."""

    name: str = Field(description="the policy's name (in the audit trail)")
    matchers: list[str] = Field(default_factory=list, description="label matchers of the alerts it applies to")
    min_severity: Literal["info", "warning", "error", "critical"] = Field("error",
            description="least severity of those alerts")
    min_firing_s: float = Field(0.0, ge=0, description="the alert must have fired at least this long")
    action: str = Field(description="name of the action it requests")
    require_approval: bool | None = Field(None, description="None: the global setting")
    verify_within_s: float | None = Field(600.0, gt=0, description="the alert must resolve within this; None: no check")

    _matchers = field_validator("matchers")(check_matchers)


class RateLimit(_Model):
    max_actions: int = Field(ge=0, description="actions allowed in the window")
    window_s: float = Field(gt=0, description="length of the window")


class RemediationConfig(_Model):
    """Actions by name, policies that request them, and the guards around them."""

    enabled: bool = Field(True,
            description="firing alerts are matched against the policies (off: no action is ever requested)")
    dry_run: bool = Field(True, description="actions are decided, logged and audited but not run")
    kill_switch: bool = Field(False, description="engaged at start: refuse every action")
    require_approval: bool = Field(True, description="an action waits for an approval (a policy may override it)")
    approval_timeout_s: float = Field(900.0, gt=0, description="an action not approved within this expires")
    allowed_programs: list[str] = Field(default_factory=list, description="absolute paths commands may run")
    per_target_limit: RateLimit = Field(RateLimit(max_actions=1, window_s=3600.0),
            description="rate limit per target")
    global_limit: RateLimit = Field(RateLimit(max_actions=10, window_s=3600.0),
            description="rate limit over all targets")
    cooldown_s: float = Field(600.0, ge=0, description="quiet time on a target after an action on it")
    max_concurrent: int = Field(2, ge=1, description="actions running at once")
    actions: dict[str, ActionConfigByType] = Field(default_factory=dict, description="actions by name")
    policies: list[RemediationPolicyConfig] = Field(default_factory=list,
            description="which alerts request which action")

    @model_validator(mode="after")
    def _references_exist(self) -> RemediationConfig:
        for policy in self.policies:
            if policy.action not in self.actions:
                raise ValueError(f"policy {policy.name!r}: unknown action {policy.action!r}")
        for name, action in self.actions.items():
            if action.rollback is not None and action.rollback not in self.actions:
                raise ValueError(f"action {name!r}: unknown rollback action {action.rollback!r}")
            if isinstance(action, CommandActionConfig) and action.argv[0] not in self.allowed_programs:
                raise ValueError(f"action {name!r}: program {action.argv[0]!r} is not in allowed_programs")
        return self
