"""A hostile label cannot choose a remediation target outside the allow-list, nor reach a shell or an option."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiops.alerting.remediation.config import RemediationConfig
from tests.remediation.builders import alert, argv_recorder, events, recorded, remediator

HOSTILE = [
    "web-1; rm -rf /", "web-1 && id", "$(id)", "`id`", "web-1|id", "web-1>x",  # shell metacharacters
    "--all", "-rf", "--host=db-1",                                              # option injection
    "../../etc/passwd", "/etc/passwd", "web-1/../db-1",                         # path traversal
    "web-1\nid", "web-1\r\n", "web-1\x00",                                      # newlines, NUL
    "w\u0435b-1", "web\u20131", "ｗｅｂ-1", "web-1\u200b",                          # Unicode look-alikes
    "web-" + "1" * 300,                                                          # very long
    "web-9",                                                                     # plain, but not allow-listed
]


def allow_listed(program, out, **action):
    """``restart --host={host}`` for web-1 and web-2 only."""
    return remediator(program, out, action={
        "argv": [program, str(out), "restart", "--host={host}"], "allowed_targets": ["*"],
        "allowed_values": {"host": {"values": ["web-1", "web-2"]}}, **action})


async def test_placeholder_inside_an_argument_runs_for_an_allowed_value(tmp_path):
    program, out = argv_recorder(tmp_path)
    [act] = await allow_listed(program, out).handle(alert("WEB-2."), now=0)  # normalised to web-2
    assert act.status == "executed" and recorded(out) == [["restart", "--host=web-2"]]


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_values_are_refused_before_anything_runs(tmp_path, value):
    program, out = argv_recorder(tmp_path)
    rem = allow_listed(program, out)
    [act] = await rem.handle(alert(value), now=0)
    assert act.status == "refused" and "host" in act.reason
    assert recorded(out) == [] and events(rem) == ["requested", "refused"]


async def test_free_form_labels_never_fill_a_placeholder(tmp_path):
    """A payload label (here ``target``) is not a trusted label: the configuration is refused."""
    program, out = argv_recorder(tmp_path)
    with pytest.raises(ValidationError, match="not a trusted label"):
        remediator(program, out, action={"argv": [program, str(out), "{target}"], "allowed_targets": ["*"]})
    with pytest.raises(ValidationError, match="needs an entry in allowed_values"):
        remediator(program, out, action={"argv": [program, str(out), "{team}"], "extra_labels": ["team"]})
    with pytest.raises(ValidationError, match="plain name"):
        remediator(program, out, action={"argv": [program, str(out), "{host.__class__}"]})


async def test_inventory_file_is_the_allow_list(tmp_path):
    program, out = argv_recorder(tmp_path)
    inventory = tmp_path / "hosts.txt"
    inventory.write_text("# fleet\nweb-1\nweb-3\n")
    rem = remediator(program, out, action={"allowed_targets": ["*"],
                                           "allowed_values": {"host": {"inventory": str(inventory)}}})
    statuses = [(await rem.handle(alert(h), now=i))[0].status for i, h in enumerate(["web-3", "web-2", "web-1"])]
    assert statuses == ["executed", "refused", "executed"]
    inventory.unlink()
    assert (await rem.handle(alert("web-1", case="gone"), now=10))[0].status == "refused"
    assert recorded(out) == [["restart", "web-3"], ["restart", "web-1"]]


def test_patterns_must_be_anchored():
    base = {"allowed_programs": ["/bin/echo"], "actions": {"x": {"type": "command", "argv": ["/bin/echo", "{host}"]}}}
    base["actions"]["x"]["allowed_values"] = {"host": {"pattern": "web-[0-9]+"}}
    with pytest.raises(ValidationError, match="anchored"):
        RemediationConfig.model_validate(base)
    base["actions"]["x"]["allowed_values"] = {"host": {"pattern": "^web-[0-9]+$", "values": ["web-1"]}}
    with pytest.raises(ValidationError, match="exactly one"):
        RemediationConfig.model_validate(base)
