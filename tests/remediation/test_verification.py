"""Post-action verification: a cleared alert verifies the action; one still firing triggers the rollback."""

from __future__ import annotations

from tests.remediation.builders import alert, argv_recorder, events, recorded, remediator


def rollback_config(out):
    return {"action": {"rollback": "undo"},
            "actions": {"undo": {"type": "command", "argv": [None, str(out), "undo", "{host}"],
                                 "allowed_targets": ["web-*"]}},
            "policy": {"verify_within_s": 300}}


async def test_cleared_alert_verifies(tmp_path):
    program, out = argv_recorder(tmp_path)
    cfg = rollback_config(out)
    cfg["actions"]["undo"]["argv"][0] = program
    rem = remediator(program, out, **cfg)
    a = alert("web-1")
    [act] = await rem.handle(a, now=0)
    assert act.verify_by == 300
    assert await rem.tick(100, firing=[a.fingerprint]) == []
    [done] = await rem.tick(150, firing=[])
    assert done is act and act.status == "verified"
    assert recorded(out) == [["restart", "web-1"]]
    assert events(rem) == ["requested", "executed", "verified"]


async def test_still_firing_runs_the_rollback(tmp_path):
    program, out = argv_recorder(tmp_path)
    cfg = rollback_config(out)
    cfg["actions"]["undo"]["argv"][0] = program
    rem = remediator(program, out, **cfg)
    a = alert("web-1")
    [act] = await rem.handle(a, now=0)
    changed = await rem.tick(300, firing=[a.fingerprint])
    assert act.status == "rolled_back"
    rollback = changed[-1]
    assert (rollback.name, rollback.rollback_of, rollback.status) == ("undo", act.id, "executed")
    assert recorded(out) == [["restart", "web-1"], ["undo", "web-1"]]
    assert events(rem) == ["requested", "executed", "verification_failed", "requested", "rolled_back"]
    assert await rem.tick(1000, firing=[a.fingerprint]) == []


async def test_no_rollback_defined_only_reports(tmp_path):
    program, out = argv_recorder(tmp_path)
    rem = remediator(program, out, policy={"verify_within_s": 10})
    a = alert("web-1")
    [act] = await rem.handle(a, now=0)
    [failed] = await rem.tick(10, firing=[a.fingerprint])
    assert failed.status == "verification_failed"


async def test_finished_actions_are_forgotten_after_a_day(tmp_path):
    """Memory stays bounded: finished actions leave after a day; a resolved alert may be acted on again."""
    program, out = argv_recorder(tmp_path)
    rem = remediator(program, out, policy={"verify_within_s": None})
    a = alert("web-1")
    [act] = await rem.handle(a, now=0)
    await rem.tick(10, firing=[])
    assert rem.list() == [act]
    await rem.tick(86_500, firing=[])
    assert rem.list() == []
    [again] = await rem.handle(a, now=86_600)
    assert again.status == "executed"
