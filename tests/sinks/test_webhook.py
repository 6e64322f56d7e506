"""The webhook sink against a local receiver that verifies the HMAC signature."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from aiops.alerting.sinks.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    WebhookSinkConfig,
    verify_signature,
)
from aiops.detectors.core.errors import PermanentDeliveryError

SECRET = "hmac-shared-secret"


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.keys: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify_signature(SECRET.encode(), raw, timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
                                signature=request.headers.get(SIGNATURE_HEADER, "")):
            return web.Response(status=401, text="bad signature")
        self.bodies.append(json.loads(raw))
        self.keys.append(request.headers[IDEMPOTENCY_HEADER])
        return web.Response(status=204)


@pytest.fixture
async def receiver(http_server):
    r = Receiver()
    server = await http_server(r.handle)
    return r, f"{server.url}/hooks/aiops"


class TestWebhookSink:
    async def test_signed_alertmanager_compatible_body(self, receiver, new_alert, new_notification):
        """The receiver verifies the signature and gets Alertmanager's webhook body (version 4)."""
        r, url = receiver
        note = new_notification(1, alerts=[new_alert(1), new_alert(2, status="resolved")])
        sink = WebhookSink(WebhookSinkConfig(url=url, secret=SECRET, external_url="http://aiops"))
        try:
            await sink.send(note)
        finally:
            await sink.close()
        [body] = r.bodies
        assert r.keys == [note.dedup_key]
        assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "sre"
        assert body["groupKey"] == note.group_key and body["groupLabels"] == {"alertname": "AnomalyDetected"}
        assert body["commonLabels"] == {"alertname": "AnomalyDetected", "service": "shop", "severity": "error"}
        assert body["commonAnnotations"] == {"runbook": "https://runbooks/cpu", "score": "0.9700"}
        assert body["externalURL"] == "http://aiops"
        first, second = body["alerts"]
        assert first["status"] == "firing" and first["endsAt"] == "0001-01-01T00:00:00Z"
        assert second["status"] == "resolved" and second["endsAt"] == "2023-11-14T22:15:22Z"
        assert first["fingerprint"] == note.alerts[0].fingerprint and first["labels"]["host"] == "web-1"

    async def test_wrong_secret_is_refused_and_permanent(self, receiver, new_notification):
        """A receiver that cannot verify the signature answers 401: a permanent error."""
        r, url = receiver
        sink = WebhookSink(WebhookSinkConfig(url=url, secret="not-the-secret"))
        try:
            with pytest.raises(PermanentDeliveryError, match="401"):
                await sink.send(new_notification(2))
        finally:
            await sink.close()
        assert r.bodies == []

    def test_replayed_or_tampered_requests_fail_verification(self):
        """A changed body, or a timestamp past the tolerance, does not verify."""
        from aiops.alerting.sinks.webhook import sign

        body = b'{"version":"4"}'
        sig = sign(SECRET.encode(), body, 1_000)
        assert verify_signature(SECRET.encode(), body, timestamp="1000", signature=sig, now=1_100)
        assert not verify_signature(SECRET.encode(), body + b" ", timestamp="1000", signature=sig, now=1_100)
        assert not verify_signature(SECRET.encode(), body, timestamp="1001", signature=sig, now=1_100)
        assert not verify_signature(SECRET.encode(), body, timestamp="1000", signature=sig, now=2_000)
        assert not verify_signature(SECRET.encode(), body, timestamp="soon", signature=sig, now=1_000)
