"""Feedback: signed link in the alert -> API -> record -> scoring engine; suppression and downgrade."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from aiops.alerting.api import make_app
from aiops.alerting.feedback import FeedbackError, FeedbackRecord, LinkSigner, apply_feedback
from aiops.alerting.state import AlertingState
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine
from tests.alerting_policy.builders import anomaly, config
from tests.support.api_tokens import auth, team


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_state(clock: Clock, **overrides) -> AlertingState:
    cfg = config(api_url="https://aiops.example/", **overrides)
    return AlertingState.from_config(cfg, signer_secret=b"feedback-secret-0123", clock=clock)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_link_round_trip_reaches_the_scoring_engine():
    """The false-positive link in a notification records a verdict the engine then applies."""
    clock = Clock(0)
    state = make_state(clock)
    engine = build_engine()
    a = anomaly("web-1", time=1059.0)
    engine.process([Event("metric", a.series_id, {"host": "web-1"}, 1000.0 + i, {"user": 10.0 + i % 3})
                    for i in range(60)])
    before = engine.threshold_of(a.series_id)
    state.policy.ingest(a, now=0)
    [note] = state.policy.tick(10)
    link = note.alerts[0].annotations["feedback_false_positive_url"]
    assert link.startswith("https://aiops.example/feedback/")
    async with TestClient(TestServer(make_app(state), host="127.0.0.1")) as client:
        clock.now = 20
        page = await client.get(path_of(link))            # the link opens a confirmation page
        assert page.status == 200 and "false positive" in await page.text()
        resp = await client.post(urlsplit(link).path, data={"verdict": "false_positive"})
        assert resp.status == 200 and "false positive" in await resp.text()
        again = await client.post(urlsplit(link).path, data={"verdict": "false_positive"})
        assert again.status == 400                          # a link is used once
    [data] = state.policy.feedback.drain()
    record = FeedbackRecord.from_dict(data)
    assert (record.fingerprint, record.series_id, record.anomaly_ids, record.anomaly_times, record.verdict,
            record.via) == (note.alerts[0].fingerprint, a.series_id, [a.id], [1059.0], "false_positive", "link")
    assert apply_feedback(record, engine) == 1
    assert engine.threshold_of(a.series_id) > before


async def test_api_feedback_validation():
    """POST /api/feedback records; bad verdicts, unknown alerts and tampered links are refused."""
    clock = Clock(0)
    state = make_state(clock)
    state.policy.ingest(anomaly("web-1"), now=0)
    fp = state.policy.active_alerts()[0].fingerprint
    async with TestClient(TestServer(make_app(state, tokens=team("ana")), host="127.0.0.1"),
                          headers=auth("ana")) as client:
        ok = await client.post("/api/feedback", json={"fingerprint": fp, "verdict": "true_positive",
                                                      "who": "ana", "comment": "real incident"})
        assert ok.status == 201 and (await ok.json())["comment"] == "real incident"
        bad = await client.post("/api/feedback", json={"fingerprint": fp, "verdict": "maybe", "who": "ana"})
        assert bad.status == 400 and "verdict" in (await bad.json())["error"]
        unknown = await client.post("/api/feedback", json={"fingerprint": "0" * 16, "verdict": "true_positive",
                                                           "who": "ana"})
        assert unknown.status == 404
        not_json = await client.post("/api/feedback", data=b"{", headers={"Content-Type": "application/json"})
        assert not_json.status == 400
        forged = LinkSigner(b"another-secret-987654").sign({"fp": fp, "series_id": "x"}, expires_at=1e12)
        resp = await client.get(f"/feedback/{forged}?verdict=false_positive")
        assert resp.status == 400 and "signature" in await resp.text()
    assert [r["verdict"] for r in state.policy.feedback.drain()] == ["true_positive"]


def test_expired_link_is_refused():
    state = make_state(Clock(0), feedback={"link_ttl_s": 60})
    state.policy.ingest(anomaly("web-1"), now=0)
    [note] = state.policy.tick(10)
    token = urlsplit(note.alerts[0].annotations["feedback_true_positive_url"]).path.rsplit("/", 1)[1]
    state.clock = Clock(1000)
    with pytest.raises(FeedbackError, match="expired"):
        state.record_link_feedback(token, "true_positive")


def test_false_positive_suppresses_repeats_then_downgrades():
    """Identical repeats are dropped inside suppress_repeat_s; later ones come one severity lower."""
    clock = Clock(0)
    state = make_state(clock, feedback={"suppress_repeat_s": 100, "downgrade_for_s": 1000})
    p = state.policy
    p.ingest(anomaly("web-1", score=0.97, time=0), now=0)
    [first] = p.tick(10)
    assert first.alerts[0].severity == "error"
    clock.now = 20
    state.record_feedback(first.alerts[0].fingerprint, "false_positive", who="ana")
    p.ingest(anomaly("web-1", score=0.97, time=50), now=50)
    assert p.suppressed_repeats == 1
    [resolved] = p.tick(130)
    assert resolved.status == "resolved"
    p.ingest(anomaly("web-1", score=0.97, time=200), now=200)
    [again] = p.tick(210)
    assert again.alerts[0].severity == "warning"
    state.record_feedback(again.alerts[0].fingerprint, "true_positive", who="ana")
    p.ingest(anomaly("web-1", score=0.97, time=2000), now=2000)
    assert p.active_alerts()[0].severity == "error"


def test_record_from_topic_is_validated():
    with pytest.raises(FeedbackError):
        FeedbackRecord.from_dict({"verdict": "false_positive"})
    with pytest.raises(FeedbackError):
        FeedbackRecord.new(fingerprint="f", series_id="s", anomaly_ids=[], anomaly_times=[], verdict="nah",
                           who="a", when=0)
