"""Webhook and Kubernetes actions against local HTTP servers that check the requests."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web
from aiohttp.test_utils import TestServer

from aiops.alerting.remediation.config import RemediationConfig
from aiops.alerting.remediation.kubernetes import RESTARTED_AT
from aiops.alerting.remediation.remediator import Remediator
from tests.remediation.builders import alert


def remediator_for(actions: dict, action: str) -> Remediator:
    return Remediator(RemediationConfig.model_validate({
        "dry_run": False, "require_approval": False, "cooldown_s": 0,
        "per_target_limit": {"max_actions": 10, "window_s": 60},
        "actions": actions, "policies": [{"name": "p", "action": action}]}))


async def test_webhook_action_posts_the_templated_body():
    seen = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, request.headers.get("X-Token"), await request.json()))
        return web.json_response({"accepted": True})

    app = web.Application()
    app.router.add_post("/restart", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        rem = remediator_for({"hook": {
            "type": "webhook", "url": str(server.make_url("/restart")) + "?host={host}",
            "headers": {"X-Token": "t0k"}, "body": {"host": "{host}", "reason": "{summary}"},
            "allowed_targets": ["web-*"], "allowed_values": {"host": {"pattern": "^web-[0-9a-z&=]+$"}}}}, "hook")
        [act] = await rem.handle(alert("web-1&x=1"), now=0)
    assert act.status == "executed" and act.result["status"] == 200
    assert seen == [("POST", "/restart?host=web-1%26x%3D1", "t0k",
                     {"host": "web-1&x=1", "reason": "cpu on web-1&x=1"})]


async def test_webhook_error_status_is_a_failure():
    async def unavailable(request: web.Request) -> web.Response:
        return web.json_response({"error": "no"}, status=503)

    app = web.Application()
    app.router.add_post("/restart", unavailable)
    async with TestServer(app, host="127.0.0.1") as server:
        rem = remediator_for({"hook": {"type": "webhook", "url": str(server.make_url("/restart")),
                                       "allowed_targets": ["*"]}}, "hook")
        [act] = await rem.handle(alert(), now=0)
    assert act.status == "failed" and "503" in act.reason


class FakeApiServer:
    """The two Kubernetes API endpoints the actions use, recording each request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.app = web.Application()
        base = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
        self.app.router.add_patch(base, self.patch_deployment)
        self.app.router.add_patch(base + "/scale", self.patch_scale)

    async def _record(self, request: web.Request, kind: str) -> dict:
        body = await request.json()
        self.requests.append({"kind": kind, "ns": request.match_info["ns"], "name": request.match_info["name"],
                              "content_type": request.headers.get("Content-Type"),
                              "auth": request.headers.get("Authorization"), "body": body})
        return body

    async def patch_deployment(self, request: web.Request) -> web.Response:
        await self._record(request, "deployment")
        ns, name = request.match_info["ns"], request.match_info["name"]
        return web.json_response({"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": name, "namespace": ns}})

    async def patch_scale(self, request: web.Request) -> web.Response:
        body = await self._record(request, "scale")
        ns, name = request.match_info["ns"], request.match_info["name"]
        return web.json_response({"apiVersion": "autoscaling/v1", "kind": "Scale",
                                  "metadata": {"name": name, "namespace": ns},
                                  "spec": {"replicas": body["spec"]["replicas"]}})


async def test_kubernetes_restart_and_scale():
    """Restart patches the restartedAt annotation of the pod template; scale patches spec.replicas."""
    fake = FakeApiServer()
    async with TestServer(fake.app, host="127.0.0.1") as server:
        common = {"api_url": str(server.make_url("")).rstrip("/"), "token": "sa-token", "verify_ssl": False,
                  "namespace": "{namespace}", "deployment": "{service}", "allowed_targets": ["shop/*"],
                  "extra_labels": ["namespace"], "allowed_values": {"namespace": {"values": ["shop", "kube-system"]}}}
        rem = Remediator(RemediationConfig.model_validate({
            "dry_run": False, "require_approval": False, "cooldown_s": 0,
            "per_target_limit": {"max_actions": 10, "window_s": 60},
            "actions": {"restart": {"type": "kubernetes", "operation": "restart", **common},
                        "scale": {"type": "kubernetes", "operation": "scale", "replicas": 4, **common}},
            "policies": [{"name": "r", "action": "restart"}, {"name": "s", "action": "scale"}]}))
        before = datetime.now(timezone.utc).replace(microsecond=0)
        acts = await rem.handle(alert("web-1", namespace="shop", service="api"), now=0)
        refused = await rem.handle(alert("web-2", namespace="kube-system", service="api"), now=0)
    assert [a.status for a in acts] == ["executed", "executed"], [a.reason for a in acts]
    assert [a.status for a in refused] == ["refused", "refused"]
    restart, scale = fake.requests
    assert (restart["kind"], restart["ns"], restart["name"]) == ("deployment", "shop", "api")
    assert restart["auth"] == "Bearer sa-token"
    assert restart["content_type"] == scale["content_type"] == "application/strategic-merge-patch+json"
    stamp = restart["body"]["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) >= before
    assert list(restart["body"]) == ["spec"] and list(restart["body"]["spec"]) == ["template"]
    assert (scale["kind"], scale["ns"], scale["name"], scale["body"]) == ("scale", "shop", "api",
                                                                          {"spec": {"replicas": 4}})
    assert [a.target for a in acts] == ["shop/api", "shop/api"]


async def test_kubernetes_names_are_validated():
    """A label that is not a DNS-1123 name never reaches the API."""
    rem = remediator_for({"restart": {"type": "kubernetes", "operation": "restart", "api_url": "http://127.0.0.1:9",
                                      "deployment": "{service}", "allowed_targets": ["*"]}}, "restart")
    [act] = await rem.handle(alert(service="api/../secrets"), now=0)
    assert act.status == "refused" and "allow-list" in act.reason
