"""The worker-facing service end to end: anomaly dicts -> policy -> real Delivery and webhook sink
(received by a local server that checks the signature) -> remediation and audit."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from aiops.alerting.config import AlertingConfig
from aiops.alerting.delivery import build_delivery
from aiops.alerting.service import AlertingService
from aiops.alerting.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.alerting_policy.builders import anomaly
from tests.remediation.builders import argv_recorder, command_config, recorded

SECRET = "hook-secret-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_anomalies_to_signed_webhook_and_remediation(tmp_path):
    received = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(SECRET.encode(), body, timestamp=request.headers[TIMESTAMP_HEADER],
                              signature=request.headers[SIGNATURE_HEADER])
        received.append((ok, await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    program, out = argv_recorder(tmp_path)
    dead = []

    async def dead_letter(record) -> None:
        dead.append(record)

    async with TestServer(app, host="127.0.0.1") as server:
        config = AlertingConfig.model_validate({
            "route": {"receiver": "sre", "group_by": ["host"], "group_wait_s": 5, "group_interval_s": 30},
            "receivers": [{"name": "sre", "sinks": [{"type": "webhook", "url": str(server.make_url("/hook")),
                                                     "secret": SECRET}]}],
            "policy": {"resolve_after_s": 60},
            "remediation": command_config(program, out, policy={"verify_within_s": 600}).model_dump(mode="json")})
        delivery = build_delivery({r.name: r.sinks for r in config.receivers}, dead_letter=dead_letter)
        clock = Clock()
        service = AlertingService(config, delivery, clock=clock, signer_secret=b"svc-secret-0123456789")
        t0 = clock.now
        taken = service.ingest([anomaly("web-1", time=t0).to_dict(), {"broken": True}])
        assert taken == 1 and len(service.drain_rejected()) == 1
        assert await service.tick() == []
        clock.now = t0 + 5
        [note] = await service.tick()
        clock.now = t0 + 30
        assert await service.tick() == []     # group_interval not over, nothing changed
        clock.now = t0 + 70
        [resolved] = await service.tick()     # normal for resolve_after_s, flushed at once
        clock.now = t0 + 100
        assert await service.tick() == []
        await delivery.close()
    assert dead == []
    assert [(ok, body["status"]) for ok, body in received] == [(True, "firing"), (True, "resolved")]
    assert received[0][1]["alerts"][0]["labels"]["host"] == "web-1"
    assert recorded(out) == [["restart", "web-1"]]
    events = [r["event"] for r in service.drain_audit()]
    assert events == ["requested", "executed", "verified"]
    assert note.alerts[0].fingerprint == resolved.alerts[0].fingerprint


def test_feedback_records_from_the_topic_reach_the_engine():
    calls = []

    class Engine:
        def feedback(self, series_id: str, time: float, verdict: str) -> None:
            calls.append((series_id, time, verdict))

    service = AlertingService(AlertingConfig(), delivery=None, clock=lambda: 0.0, signer_secret=b"x" * 20)
    record = {"id": "r1", "fingerprint": "f", "series_id": "cpu|host=a", "anomaly_ids": ["a", "b"],
              "anomaly_times": [1.0, 2.0], "verdict": "false_positive", "who": "ana", "when": 3.0}
    assert service.apply_feedback([record, {"verdict": "nope"}], Engine()) == 2
    assert calls == [("cpu|host=a", 1.0, "false_positive"), ("cpu|host=a", 2.0, "false_positive")]
    assert service.policy.feedback.suppresses("f", 10.0)
    assert len(service.drain_rejected()) == 1


async def test_episode_end_records_resolve_and_bad_ones_are_rejected():
    """An ``episode_end`` record on the anomalies topic resolves the series' alert; a malformed one is rejected."""
    config = AlertingConfig.model_validate({"route": {"group_wait_s": 0},
                                            "policy": {"resolve_after_s": 10_000, "resolve_after_silence_s": 10_000}})
    clock = Clock()
    dead = []

    async def dead_letter(record) -> None:
        dead.append(record)

    service = AlertingService(config, build_delivery({}, dead_letter=dead_letter), clock=clock,
                              signer_secret=b"svc-secret-0123456789")
    a = anomaly("web-1", time=clock.now)
    assert service.ingest([a.to_dict()]) == 1
    end = {"kind": "episode_end", "series_id": a.series_id, "time": clock.now + 30, "reason": "returned"}
    assert service.ingest([end, {**end, "reason": "bored"}]) == 1
    [rejected] = service.drain_rejected()
    assert "reason among" in rejected["reason"]
    clock.now += 1
    await service.tick()  # the alert is told firing first: an episode that ended still pages once
    assert len(service.state.policy.active_alerts()) == 1
    clock.now += 1
    await service.tick()
    assert service.state.policy.active_alerts() == []
