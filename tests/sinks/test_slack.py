"""The Slack sink against a local server that checks Slack's documented Block Kit limits."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from aiops.alerting.sinks.base import RetryAfter
from aiops.alerting.sinks.slack import SlackSink, SlackSinkConfig
from aiops.detectors.core.errors import PermanentDeliveryError

TEXT_TYPES = {"plain_text", "mrkdwn"}


def _text_object(obj, *, limit: int, plain_only: bool = False) -> None:
    assert isinstance(obj, dict) and obj.get("type") in TEXT_TYPES, obj
    assert not plain_only or obj["type"] == "plain_text", obj
    assert isinstance(obj.get("text"), str) and 1 <= len(obj["text"]) <= limit, obj


def validate_block_kit(payload: dict) -> None:
    """Slack's constraints on an incoming-webhook message; AssertionError when broken."""
    assert isinstance(payload.get("text"), str) and payload["text"], "text fallback is required"
    blocks = payload.get("blocks", [])
    assert isinstance(blocks, list) and len(blocks) <= 50
    for block in blocks:
        kind = block.get("type")
        assert kind in {"header", "section", "context", "divider", "actions", "image"}, kind
        if kind == "header":
            _text_object(block["text"], limit=150, plain_only=True)
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                _text_object(block["text"], limit=3000)
            fields = block.get("fields", [])
            assert len(fields) <= 10
            for f in fields:
                _text_object(f, limit=2000)
        elif kind == "context":
            elements = block["elements"]
            assert 1 <= len(elements) <= 10
            for e in elements:
                _text_object(e, limit=3000)


class FakeSlack:
    """Answers like Slack's incoming webhooks: "ok", 400 invalid_blocks, 404 no_service, 429."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.mode = "ok"

    async def handle(self, request: web.Request) -> web.Response:
        if request.path != "/services/T000/B000/s3cretpath":
            return web.Response(status=404, text="no_service")
        if self.mode == "rate_limited":
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": "7"})
        if request.content_type != "application/json":
            return web.Response(status=400, text="invalid_payload")
        try:
            payload = json.loads(await request.read())
            validate_block_kit(payload)
        except (ValueError, AssertionError, KeyError, TypeError):
            return web.Response(status=400, text="invalid_blocks")
        self.messages.append(payload)
        return web.Response(text="ok")


@pytest.fixture
async def slack(http_server):
    fake = FakeSlack()
    server = await http_server(fake.handle)
    return fake, f"{server.url}/services/T000/B000/s3cretpath"


class TestSlackSink:
    async def test_message_passes_block_kit_checks(self, slack, new_notification, new_alert):
        """A notification becomes a valid message: header, fields section, one section per alert, context."""
        fake, url = slack
        sink = SlackSink(SlackSinkConfig(webhook_url=url, dashboard_url="http://grafana/d/aiops"))
        try:
            await sink.send(new_notification(1, alerts=[new_alert(1), new_alert(2, severity="critical")]))
        finally:
            await sink.close()
        [msg] = fake.messages
        assert [b["type"] for b in msg["blocks"]] == ["header", "section", "section", "section", "context"]
        assert msg["blocks"][0]["text"]["text"] == "[FIRING:2] AnomalyDetected"
        fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in msg["blocks"][1]["fields"]}
        assert fields["*Alerts*"] == "2" and fields["*Status*"] == "firing"
        assert "cpu.user high on web-2" in msg["blocks"][3]["text"]["text"]
        assert "<http://grafana/d/aiops|dashboard>" in msg["blocks"][-1]["elements"][-1]["text"]

    async def test_huge_notification_stays_within_limits(self, slack, new_notification, new_alert):
        """200 alerts with long labels and a long group still make an accepted message."""
        fake, url = slack
        alerts = [new_alert(i, detail="x" * 2500) for i in range(200)]
        note = new_notification(2, alerts=alerts)
        note.group_labels = {f"label{i}": "y" * 300 for i in range(15)}
        sink = SlackSink(SlackSinkConfig(webhook_url=url))
        try:
            await sink.send(note)
        finally:
            await sink.close()
        [msg] = fake.messages
        assert len(msg["blocks"]) <= 50
        assert "and 160 more alerts" in msg["blocks"][-1]["elements"][2]["text"]

    async def test_rate_limit_is_retryable_with_retry_after(self, slack, new_notification):
        """429 becomes RetryAfter carrying the server's Retry-After."""
        fake, url = slack
        fake.mode = "rate_limited"
        sink = SlackSink(SlackSinkConfig(webhook_url=url))
        try:
            with pytest.raises(RetryAfter) as caught:
                await sink.send(new_notification(3))
        finally:
            await sink.close()
        assert caught.value.retry_after_s == 7.0

    async def test_unknown_webhook_is_permanent(self, slack, new_notification):
        """404 no_service will never succeed; the error names Slack's reason but not the URL."""
        fake, url = slack
        sink = SlackSink(SlackSinkConfig(webhook_url=url.replace("s3cretpath", "revoked")))
        try:
            with pytest.raises(PermanentDeliveryError, match="404: no_service") as caught:
                await sink.send(new_notification(4))
        finally:
            await sink.close()
        assert "revoked" not in str(caught.value)

    def test_validator_rejects_broken_messages(self):
        """The checks themselves catch an over-long header and too many fields."""
        with pytest.raises(AssertionError):
            validate_block_kit({"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text",
                                                                                     "text": "h" * 151}}]})
        with pytest.raises(AssertionError):
            validate_block_kit({"text": "t", "blocks": [{"type": "section", "fields": [
                {"type": "mrkdwn", "text": "f"}] * 11}]})
