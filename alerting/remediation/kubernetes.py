"""Rollout-restart or scale a Deployment with the official ``kubernetes`` client.

Restart patches ``spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]``
(what ``kubectl rollout restart`` does); scale patches the ``scale``
subresource's ``spec.replicas``. The target is ``namespace/deployment``.

>>> from aiops.alerting.alert import Alert
>>> from aiops.alerting.remediation.config import KubernetesActionConfig
>>> k = KubernetesAction("scale-up", KubernetesActionConfig(operation="scale", replicas=3,
...                      namespace="{namespace}", deployment="{service}", extra_labels=["namespace"],
...                      allowed_values={"namespace": {"values": ["shop"]}}))
>>> alert = Alert.firing(labels={"namespace": "shop", "service": "api"}, annotations={}, starts_at=0,
...                      severity="error", score=0.97)
>>> plan = k.prepare(alert)
>>> plan.target, plan.details["body"]
('shop/api', {'spec': {'replicas': 3}})
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from typing import Any, Callable

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.action import ActionRefused, Plan
from aiops.alerting.remediation.arguments import action_allow_lists, default_allow_list, fill, trusted_values
from aiops.alerting.remediation.config import KubernetesActionConfig

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class KubernetesAction:
    kind = "kubernetes"
    config_model = KubernetesActionConfig

    def __init__(self, name: str, config: KubernetesActionConfig,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.name = name
        self.config = config
        self.pattern = re.compile(config.name_pattern)
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def prepare(self, alert: Alert) -> Plan:
        values = trusted_values(alert, tuple(self.config.extra_labels))
        allow, default = action_allow_lists(self.config), default_allow_list(self.config.name_pattern)
        namespace = fill(self.config.namespace, values, allow, default)
        deployment = fill(self.config.deployment, values, allow, default)
        for what, value in (("namespace", namespace), ("deployment", deployment)):
            if not self.pattern.fullmatch(value):
                raise ActionRefused(f"{what} {value!r} is not a valid Kubernetes name")
        if self.config.operation == "scale":
            body: dict[str, Any] = {"spec": {"replicas": self.config.replicas}}
        else:
            stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return Plan(target=f"{namespace}/{deployment}", details={
            "operation": self.config.operation, "namespace": namespace, "deployment": deployment, "body": body})

    async def execute(self, plan: Plan) -> dict[str, Any]:
        return await asyncio.to_thread(self._patch, plan)

    def _patch(self, plan: Plan) -> dict[str, Any]:
        from kubernetes import client

        d = plan.details
        with client.ApiClient(self._configuration()) as api_client:
            apps = client.AppsV1Api(api_client)
            call = (apps.patch_namespaced_deployment_scale if d["operation"] == "scale"
                    else apps.patch_namespaced_deployment)
            resp = call(d["deployment"], d["namespace"], d["body"], _preload_content=False,
                        _request_timeout=self.config.timeout_s)
            return {"status": resp.status, "operation": d["operation"], "object": plan.target}

    def _configuration(self) -> Any:
        from kubernetes import client
        from kubernetes import config as kube_config

        conf = client.Configuration()
        if self.config.api_url:
            conf.host = self.config.api_url
            conf.verify_ssl = self.config.verify_ssl
            if self.config.ca_file:
                conf.ssl_ca_cert = self.config.ca_file
            if self.config.token:
                conf.api_key = {"authorization": self.config.token.get_secret_value()}
                conf.api_key_prefix = {"authorization": "Bearer"}
        elif self.config.in_cluster:
            kube_config.load_incluster_config(client_configuration=conf)
        else:
            kube_config.load_kube_config(config_file=self.config.kubeconfig, client_configuration=conf)
        return conf
