"""README "Receive alerts": its configurations validate, route as described, and its webhook receiver
accepts what the real webhook sink signs and refuses a tampered body.

Configurations and the receiver are read out of README.md (``<!-- example: NAME -->`` blocks); the
receiver runs as its own process, exactly as printed, on loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
import yaml
from aiohttp import web

from aiops.alerting.routing import RouteTree
from aiops.alerting.sinks.registry import build_sink
from aiops.alerting.sinks.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    WebhookSinkConfig,
    sign,
)
from aiops.detectors.core.errors import ConfigError, PermanentDeliveryError
from aiops.pipeline.config import parse_settings
from aiops.pipeline.tools.embedded_broker import free_port
from tests.sinks.conftest import LocalHttp, make_notification
from tests.support.readme_examples import examples

SECRETS = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/docs",
    "PAGERDUTY_ROUTING_KEY": "docs-routing-key-0123456789abcdef",
    "ALERTMANAGER_PASSWORD": "docs-am-password",
    "ALERT_WEBHOOK_URL": "https://receiver.example/aiops",
    "ALERT_WEBHOOK_SECRET": "docs-webhook-secret",
}
# example -> the sink types its receivers use
SINK_TYPES = {
    "alerts-routing": {"slack", "pagerduty"},
    "alerts-alertmanager": {"alertmanager"},
    "alerts-slack": {"slack"},
    "alerts-pagerduty": {"pagerduty"},
    "alerts-webhook": {"webhook"},
}


@pytest.fixture(scope="module")
def readme():
    return examples()


@pytest.fixture
def secrets_in_env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def settings_of(example):
    return parse_settings(yaml.safe_load(example.text))


def test_every_alerting_example_is_checked(readme):
    assert {n for n in readme if n.startswith("alerts-")} == set(SINK_TYPES)
    assert readme["webhook-receiver"].language == "python"


@pytest.mark.parametrize("name", sorted(SINK_TYPES))
def test_configuration_validates_and_builds_its_sinks(readme, secrets_in_env, name):
    """Each snippet is a valid configuration; its secrets come from the environment; its sinks build."""
    settings = settings_of(readme[name])
    sinks = [sink for receiver in settings.alerting.receivers for sink in receiver.sinks]
    assert {sink.type for sink in sinks} == SINK_TYPES[name]
    for sink in sinks:
        build_sink(sink)
        for field in ("webhook_url", "routing_key", "secret", "url", "password"):
            value = getattr(sink, field, None)
            if hasattr(value, "get_secret_value"):
                assert value.get_secret_value() in SECRETS.values(), (name, field)
    assert "${" not in json.dumps(settings.model_dump(mode="json"))


def test_a_missing_secret_is_named(readme, monkeypatch):
    """Without the variable the configuration is refused, naming it."""
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_URL"):
        settings_of(readme["alerts-slack"])


def test_routing_pages_critical_alerts_and_sends_the_rest_to_the_team(readme, secrets_in_env):
    settings = settings_of(readme["alerts-routing"])
    tree = RouteTree(settings.alerting.route)
    labels = {"alertname": "AnomalyDetected", "service": "checkout", "host": "web-1"}
    assert [r.receiver for r in tree.match({**labels, "severity": "critical"})] == ["oncall"]
    assert [r.receiver for r in tree.match({**labels, "severity": "warning"})] == ["team"]
    assert [r.receiver for r in tree.match({**labels, "severity": "error"})] == ["team"]
    oncall = next(r for r in settings.alerting.receivers if r.name == "oncall")
    assert {s.type for s in oncall.sinks} == {"pagerduty", "slack"}  # paged, and in the team's channel


@pytest.fixture
def receiver(readme, tmp_path):
    """The README's receiver, run as printed, on a free loopback port."""
    script = tmp_path / "receiver.py"
    script.write_text(readme["webhook-receiver"].text)
    port = free_port()
    env = {**os.environ, "ALERT_WEBHOOK_SECRET": SECRETS["ALERT_WEBHOOK_SECRET"], "PORT": str(port)}
    log = (tmp_path / "receiver.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "receiver.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the README receiver did not start listening"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_receiver_accepts_the_sinks_signature_and_refuses_a_tampered_body(receiver):
    """The real sink signs a real notification; a relay records it on its way to the README receiver."""
    seen: list[tuple[bytes, dict[str, str], int]] = []

    async def relay(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: request.headers[k] for k in (TIMESTAMP_HEADER, SIGNATURE_HEADER, IDEMPOTENCY_HEADER,
                                                    "Content-Type")}
        status = await _post(receiver, body, headers)
        seen.append((body, headers, status))
        return web.Response(status=status)

    relay_server = LocalHttp(relay)
    await relay_server.start()
    sink = WebhookSink(WebhookSinkConfig(url=relay_server.url + "/hook", secret=SECRETS["ALERT_WEBHOOK_SECRET"]))
    try:
        await sink.send(make_notification(1))  # raises unless the receiver answered 2xx
    finally:
        await sink.close()
        await relay_server.stop()
    (body, headers, status) = seen[0]
    assert status == 204 and json.loads(body)["version"] == "4"

    assert await _post(receiver, body, headers) == 204  # the same request, still within the tolerance
    tampered = body.replace(b'"firing"', b'"resolved"', 1)
    assert tampered != body
    assert await _post(receiver, tampered, headers) == 401
    moved = {**headers, TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)}
    assert await _post(receiver, body, moved) == 401  # the timestamp is signed too
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
    assert await _post(receiver, body, unsigned) == 401


async def test_receiver_refuses_a_sink_with_another_secret(receiver):
    """Through the real sink: a wrong secret is refused, and the sink reports it as permanent."""
    sink = WebhookSink(WebhookSinkConfig(url=receiver, secret="not-the-shared-secret"))
    try:
        with pytest.raises(PermanentDeliveryError, match="401"):
            await sink.send(make_notification(2))
    finally:
        await sink.close()


async def test_receiver_refuses_a_stale_request(receiver):
    """A correctly signed request from an hour ago is refused (replay protection)."""
    body, stamp = b'{"version": "4", "alerts": []}', int(time.time()) - 3600
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(SECRETS["ALERT_WEBHOOK_SECRET"].encode(), body,
                                                                     stamp)}
    assert await _post(receiver, body, headers) == 401
    fresh = int(time.time())
    headers = {TIMESTAMP_HEADER: str(fresh), SIGNATURE_HEADER: sign(SECRETS["ALERT_WEBHOOK_SECRET"].encode(), body,
                                                                     fresh)}
    assert await _post(receiver, body, headers) == 204
