"""The PagerDuty sink against a local server checking the Events API v2 schema."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from aiohttp import web

from aiops.alerting.sinks.base import RetryAfter
from aiops.alerting.sinks.pagerduty import PagerdutySink, PagerdutySinkConfig
from aiops.detectors.core.errors import PermanentDeliveryError

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"


def validate_event(event: dict) -> list[str]:
    """Problems with an Events API v2 event (empty when valid)."""
    problems = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        problems.append("routing_key must be a 32-character string")
    if event.get("event_action") not in {"trigger", "acknowledge", "resolve"}:
        problems.append("event_action invalid")
    if event.get("event_action") in {"acknowledge", "resolve"} and not event.get("dedup_key"):
        problems.append("dedup_key required")
    if event.get("dedup_key") is not None and (not isinstance(event["dedup_key"], str)
                                               or len(event["dedup_key"]) > 255):
        problems.append("dedup_key invalid")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        if not isinstance(payload.get("summary"), str) or not 1 <= len(payload["summary"]) <= 1024:
            problems.append("payload.summary required, at most 1024 characters")
        if not payload.get("source"):
            problems.append("payload.source required")
        if payload.get("severity") not in {"critical", "error", "warning", "info"}:
            problems.append("payload.severity invalid")
        if "timestamp" in payload:
            try:
                datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
            except ValueError:
                problems.append("payload.timestamp is not ISO 8601")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            problems.append("payload.custom_details must be an object")
    for link in event.get("links", []):
        if not link.get("href"):
            problems.append("links[].href required")
    return problems


class FakePagerDuty:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.rate_limited = False

    async def handle(self, request: web.Request) -> web.Response:
        if request.path != "/v2/enqueue":
            return web.Response(status=404)
        if self.rate_limited:
            return web.json_response({"status": "throttle", "message": "Requests for this service are "
                                      "arriving too quickly."}, status=429)
        try:
            event = json.loads(await request.read())
        except ValueError:
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": ["body is not JSON"]}, status=400)
        problems = validate_event(event)
        if problems:
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": problems}, status=400)
        self.events.append(event)
        return web.json_response({"status": "success", "message": "Event processed",
                                  "dedup_key": event.get("dedup_key")}, status=202)


@pytest.fixture
async def pagerduty(http_server):
    fake = FakePagerDuty()
    server = await http_server(fake.handle)
    return fake, f"{server.url}/v2/enqueue"


class TestPagerdutySink:
    async def test_trigger_and_resolve_share_the_fingerprint_dedup_key(self, pagerduty, new_alert,
                                                                       new_notification):
        """Firing -> trigger, resolved -> resolve, both with dedup_key = fingerprint; payload is valid."""
        fake, url = pagerduty
        sink = PagerdutySink(PagerdutySinkConfig(routing_key=ROUTING_KEY, url=url, client_url="http://aiops"))
        try:
            await sink.send(new_notification(1, alerts=[new_alert(1, severity="critical")]))
            await sink.send(new_notification(1, alerts=[new_alert(1, status="resolved")]))
        finally:
            await sink.close()
        trigger, resolve = fake.events
        fp = new_alert(1).fingerprint
        assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
        assert trigger["dedup_key"] == resolve["dedup_key"] == fp
        payload = trigger["payload"]
        assert payload["severity"] == "critical" and payload["source"] == "web-1"
        assert payload["group"] == "shop" and payload["class"] == "AnomalyDetected"
        assert payload["custom_details"]["score"] == 0.97
        assert trigger["links"] == [{"href": "https://runbooks/cpu", "text": "runbook"}]
        assert trigger["client"] == "aiops" and trigger["client_url"] == "http://aiops"

    async def test_long_summary_is_cut_to_1024(self, pagerduty, new_alert, new_notification):
        """A 5000-character summary is accepted after being cut to PagerDuty's limit."""
        fake, url = pagerduty
        alert = new_alert(2)
        alert.annotations["summary"] = "s" * 5000
        sink = PagerdutySink(PagerdutySinkConfig(routing_key=ROUTING_KEY, url=url))
        try:
            await sink.send(new_notification(2, alerts=[alert]))
        finally:
            await sink.close()
        assert len(fake.events[0]["payload"]["summary"]) == 1024

    async def test_bad_routing_key_is_permanent(self, pagerduty, new_notification):
        """400 invalid event is permanent, and the routing key is not in the error."""
        fake, url = pagerduty
        sink = PagerdutySink(PagerdutySinkConfig(routing_key="short-secret-key", url=url))
        try:
            with pytest.raises(PermanentDeliveryError, match="400") as caught:
                await sink.send(new_notification(3))
        finally:
            await sink.close()
        assert "short-secret-key" not in str(caught.value)

    async def test_throttle_is_retryable(self, pagerduty, new_notification):
        """429 without Retry-After is retryable with a default wait."""
        fake, url = pagerduty
        fake.rate_limited = True
        sink = PagerdutySink(PagerdutySinkConfig(routing_key=ROUTING_KEY, url=url))
        try:
            with pytest.raises(RetryAfter):
                await sink.send(new_notification(4))
        finally:
            await sink.close()
