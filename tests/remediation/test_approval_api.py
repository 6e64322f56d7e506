"""Approval end to end over HTTP: anomaly -> alert -> requested -> pending -> approve -> executed -> audit."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from aiops.alerting.api import make_app
from aiops.alerting.config import AlertingConfig
from aiops.alerting.state import AlertingState
from tests.alerting_policy.builders import anomaly
from tests.remediation.builders import argv_recorder, command_config, recorded
from tests.support.api_tokens import auth, team, token_of


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_state(tmp_path, clock: Clock) -> tuple[AlertingState, object]:
    program, out = argv_recorder(tmp_path)
    remediation = command_config(program, out, require_approval=True, approval_timeout_s=600)
    config = AlertingConfig.model_validate({"route": {"group_wait_s": 0},
                                            "remediation": remediation.model_dump(mode="json")})
    return AlertingState.from_config(config, signer_secret=b"approval-secret-01234", clock=clock), out


async def pending_action(state: AlertingState, host: str, now: float):
    state.policy.ingest(anomaly(host, time=now), now=now)
    [alert] = [a for a in state.policy.active_alerts() if a.labels["host"] == host]
    [action] = await state.remediator.handle(alert, now=now)
    return action


async def test_request_pending_approve_executed_audited(tmp_path):
    clock = Clock()
    state, out = make_state(tmp_path, clock)
    action = await pending_action(state, "web-1", 0)
    async with TestClient(TestServer(make_app(state, tokens=team("ana")), host="127.0.0.1"),
                          headers=auth("ana")) as client:
        listed = await (await client.get("/api/actions?status=awaiting_approval")).json()
        assert [a["id"] for a in listed["actions"]] == [action.id]
        assert listed["actions"][0]["details"]["argv"][-2:] == ["restart", "web-1"]
        assert recorded(out) == []
        clock.now = 30
        resp = await client.post(f"/api/actions/{action.id}/approve", json={"who": "ana"})
        body = await resp.json()
        assert resp.status == 200 and (body["status"], body["decided_by"]) == ("executed", "ana")
        again = await client.post(f"/api/actions/{action.id}/approve", json={"who": "ana"})
        assert again.status == 400 and "not awaiting approval" in (await again.json())["error"]
    assert recorded(out) == [["restart", "web-1"]]
    audit = state.remediator.drain_audit()
    assert [(r["event"], r["who"]) for r in audit] == [
        ("requested", None), ("awaiting_approval", None), ("approved", "ana"), ("executed", None)]
    assert {r["audit_id"] for r in audit} == {action.id}


async def test_deny_expiry_and_kill_switch_over_http(tmp_path):
    clock = Clock()
    state, out = make_state(tmp_path, clock)
    denied = await pending_action(state, "web-1", 0)
    stale = await pending_action(state, "web-2", 0)
    guarded = await pending_action(state, "web-3", 700)
    async with TestClient(TestServer(make_app(state, tokens=team("bob")), host="127.0.0.1"),
                          headers=auth("bob")) as client:
        resp = await client.post(f"/api/actions/{denied.id}/deny", json={"who": "bob", "comment": "peak hours"})
        assert (await resp.json())["status"] == "denied"
        clock.now = 700
        resp = await client.post(f"/api/actions/{stale.id}/approve", json={"who": "bob"})
        assert resp.status == 400 and "expired" in (await resp.json())["error"]
        resp = await client.post("/api/killswitch", json={"engaged": True, "who": "bob"})
        assert (await resp.json()) == {"kill_switch": True}
        resp = await client.post(f"/api/actions/{guarded.id}/approve", json={"who": "bob"})
        assert resp.status == 400 and "refused" in (await resp.json())["error"]
        assert (await client.post("/api/killswitch", json={"engaged": "yes", "who": "bob"})).status == 400
        assert (await client.post(f"/api/actions/{guarded.id}/approve", json={})).status == 400
        assert (await client.post("/api/actions/nope/deny", json={"who": "bob"})).status == 404
    assert recorded(out) == []
    events = [r["event"] for r in state.remediator.drain_audit()]
    assert events.count("denied") == 1 and events.count("expired") == 1 and "kill_switch" in events
    assert "executed" not in events


async def test_approval_through_the_cli(tmp_path, capsys, monkeypatch):
    """aiops actions list / approve against the live API runs the pending action."""
    import argparse
    import asyncio

    from aiops.alerting import cli

    clock = Clock()
    state, out = make_state(tmp_path, clock)
    action = await pending_action(state, "web-1", 0)
    parser = argparse.ArgumentParser(prog="aiops")
    cli.register(parser.add_subparsers(dest="command", required=True))
    monkeypatch.setenv("AIOPS_API_TOKEN", token_of("operator"))
    async with TestServer(make_app(state, tokens=team("operator")), host="127.0.0.1") as server:
        api = ["--api", str(server.make_url(""))]
        args = parser.parse_args(["actions", "list", "--status", "awaiting_approval", *api])
        assert await asyncio.to_thread(args.func, args) == 0
        assert action.id in capsys.readouterr().out
        args = parser.parse_args(["actions", "approve", action.id, "--by", "ana", *api])
        assert await asyncio.to_thread(args.func, args) == 0
        args = parser.parse_args(["actions", "deny", action.id, "--by", "ana", *api])
        assert await asyncio.to_thread(args.func, args) == 1
    assert (action.status, action.decided_by) == ("executed", "operator/ana")
    assert recorded(out) == [["restart", "web-1"]]
