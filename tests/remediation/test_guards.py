"""Each guard refuses what it must: dry run, allow-list, rate limits, cooldown, concurrency,
kill switch, approval expiry and denial; policies select alerts by matchers, severity and age."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiops.alerting.remediation.action import ActionError
from aiops.alerting.remediation.config import RemediationConfig
from aiops.alerting.remediation.remediator import Remediator
from tests.remediation.builders import alert, argv_recorder, command_config, events, recorded, remediator


@pytest.fixture
def prog(tmp_path):
    return argv_recorder(tmp_path)


async def test_dry_run_is_the_default(prog):
    """With defaults (dry run, approval off here) nothing runs; the result says what would have."""
    program, out = prog
    cfg = command_config(program, out).model_dump()
    cfg.pop("dry_run")
    rem = Remediator(RemediationConfig.model_validate(cfg))
    [act] = await rem.handle(alert(), now=0)
    assert (act.status, act.dry_run) == ("dry_run", True)
    assert act.result == {"would_run": {"argv": [program, str(out), "restart", "web-1"]}}
    assert recorded(out) == [] and events(rem) == ["requested", "executed"]


def test_every_guard_is_on_by_default():
    cfg = RemediationConfig()
    assert cfg.dry_run and cfg.require_approval and cfg.max_concurrent >= 1 and cfg.cooldown_s > 0
    assert cfg.per_target_limit.max_actions == 1 and not cfg.kill_switch


async def test_target_must_be_allow_listed(prog):
    program, out = prog
    rem = remediator(program, out, action={"allowed_targets": ["web-*"]})
    [act] = await rem.handle(alert("db-1"), now=0)
    assert act.status == "refused" and "not allow-listed" in act.reason
    rem = remediator(program, out, action={"allowed_targets": []})
    [act] = await rem.handle(alert("web-1"), now=0)
    assert act.status == "refused"
    assert recorded(out) == []


async def test_per_target_rate_limit(prog):
    """One action per target per window: a second alert on the same host is refused, another host is not."""
    program, out = prog
    rem = remediator(program, out, per_target_limit={"max_actions": 1, "window_s": 100})
    [first] = await rem.handle(alert("web-1", series="a"), now=0)
    [second] = await rem.handle(alert("web-1", series="b"), now=50)
    [other] = await rem.handle(alert("web-2"), now=50)
    [later] = await rem.handle(alert("web-1", series="c"), now=101)
    assert [a.status for a in (first, second, other, later)] == ["executed", "refused", "executed", "executed"]
    assert "limit 1" in second.reason


async def test_cooldown_after_an_action(prog):
    program, out = prog
    rem = remediator(program, out, cooldown_s=300)
    [first] = await rem.handle(alert("web-1", series="a"), now=0)
    [second] = await rem.handle(alert("web-1", series="b"), now=299)
    [third] = await rem.handle(alert("web-1", series="c"), now=300)
    assert (first.status, second.status, third.status) == ("executed", "refused", "executed")
    assert "cooling down" in second.reason


async def test_global_rate_limit(prog):
    program, out = prog
    rem = remediator(program, out, global_limit={"max_actions": 2, "window_s": 100})
    statuses = [(await rem.handle(alert(f"web-{i}"), now=i))[0].status for i in range(3)]
    assert statuses == ["executed", "executed", "refused"]
    assert len(recorded(out)) == 2


async def test_max_concurrent_actions():
    """While one webhook call is in flight, a second action is refused (max_concurrent 1)."""
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await release.wait()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/fix", slow)
    async with TestServer(app, host="127.0.0.1") as server:
        rem = Remediator(RemediationConfig.model_validate({
            "dry_run": False, "require_approval": False, "max_concurrent": 1, "cooldown_s": 0,
            "actions": {"hook": {"type": "webhook", "url": str(server.make_url("/fix")), "allowed_targets": ["*"]}},
            "policies": [{"name": "p", "action": "hook"}]}))
        first = asyncio.create_task(rem.handle(alert("web-1"), now=0))
        await asyncio.wait_for(started.wait(), 5)
        [second] = await rem.handle(alert("web-2"), now=1)
        release.set()
        [done] = await first
    assert second.status == "refused" and "limit 1" in second.reason
    assert done.status == "executed" and done.result["status"] == 200


async def test_kill_switch_refuses_and_cancels_pending(prog):
    program, out = prog
    rem = remediator(program, out, require_approval=True)
    [pending] = await rem.handle(alert("web-1"), now=0)
    assert pending.status == "awaiting_approval"
    rem.set_kill_switch(True, who="ana", now=1)
    assert pending.status == "refused" and pending.reason == "kill switch engaged"
    [blocked] = await rem.handle(alert("web-2"), now=2)
    assert blocked.status == "refused" and blocked.reason == "kill switch engaged"
    rem.set_kill_switch(False, who="ana", now=3)
    [ok] = await rem.handle(alert("web-3"), now=4)
    assert ok.status == "awaiting_approval"
    assert "kill_switch" in events(rem) and recorded(out) == []


async def test_kill_switch_engaged_at_start(prog):
    program, out = prog
    rem = remediator(program, out, kill_switch=True)
    [act] = await rem.handle(alert(), now=0)
    assert act.status == "refused"


async def test_approval_expires_and_deny(prog):
    """Pending actions expire after approval_timeout_s; a denied one never runs."""
    program, out = prog
    rem = remediator(program, out, require_approval=True, approval_timeout_s=60)
    [a] = await rem.handle(alert("web-1"), now=0)
    [b] = await rem.handle(alert("web-2"), now=0)
    rem.deny(b.id, who="bob", now=10, comment="not now")
    assert (b.status, b.decided_by) == ("denied", "bob")
    expired = await rem.tick(60, firing=[a.fingerprint])
    assert expired == [a] and a.status == "expired"
    with pytest.raises(ActionError, match="expired"):
        await rem.approve(a.id, who="bob", now=61)
    with pytest.raises(ActionError, match="unknown"):
        rem.deny("nope", who="bob", now=61)
    assert recorded(out) == []
    assert events(rem) == ["requested", "awaiting_approval", "requested", "awaiting_approval", "denied", "expired"]


async def test_policy_selection(prog):
    """Matchers, min_severity and min_firing_s select alerts; one request per alert episode."""
    program, out = prog
    rem = remediator(program, out, policy={"matchers": ["service=api"], "min_severity": "critical",
                                           "min_firing_s": 60})
    assert await rem.handle(alert("web-1", service="web", severity="critical"), now=100) == []
    assert await rem.handle(alert("web-1", service="api", severity="error"), now=100) == []
    young = alert("web-1", service="api", severity="critical", starts_at=50)
    assert await rem.handle(young, now=100) == []
    [act] = await rem.handle(young, now=110)
    assert act.status == "executed"
    assert await rem.handle(young, now=200) == []


async def test_failure_is_audited_not_raised(prog, tmp_path):
    program, out = prog
    rem = remediator(program, out, actions={"fail": {"type": "command", "argv": ["/bin/false"],
                                                     "target": "{host}", "allowed_targets": ["*"]}},
                     policy={"action": "fail"})
    [act] = await rem.handle(alert(), now=0)
    assert act.status == "failed" and "exited with 1" in act.reason
    assert events(rem) == ["requested", "failed"]


async def test_state_survives_a_restart(prog):
    """Pending approvals, rate-limit history and the kill switch come back after export/import (JSON)."""
    import json

    program, out = prog
    first = remediator(program, out, require_approval=True, per_target_limit={"max_actions": 1, "window_s": 100})
    [pending] = await first.handle(alert("web-1"), now=0)
    first.guards.record("web-2", now=0)
    first.set_kill_switch(False, who="ana", now=0)
    data = json.loads(json.dumps(first.export_state()))
    second = remediator(program, out, require_approval=True, per_target_limit={"max_actions": 1, "window_s": 100})
    second.import_state(data)
    assert await second.handle(alert("web-1"), now=5) == []            # already requested this episode
    assert second.guards.rate_limited("web-2", now=5) is not None
    done = await second.approve(pending.id, who="ana", now=10)
    assert done.status == "executed" and recorded(out) == [["restart", "web-1"]]
    with pytest.raises(ActionError):
        second.import_state({"version": 7})
