"""Label values never reach a shell: hostile values are refused, and even accepted ones stay one argument."""

from __future__ import annotations

import pytest

from tests.remediation.builders import alert, argv_recorder, events, recorded, remediator

HOSTILE = ["web-1; rm -rf /", "$(id)", "`id`", "web-1 && touch /tmp/pwned", "web-1\nid", "../../etc/passwd",
           "-rf", "web-1|id"]


async def test_plain_label_runs_the_exact_argv(tmp_path):
    """The allow-listed program runs with exactly the templated argv."""
    program, out = argv_recorder(tmp_path)
    rem = remediator(program, out)
    [act] = await rem.handle(alert("web-1"), now=10)
    assert act.status == "executed"
    assert recorded(out) == [["restart", "web-1"]]
    assert act.result["argv"] == [program, str(out), "restart", "web-1"]


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_label_values_are_refused(tmp_path, value):
    """Values failing the per-action pattern are refused before anything runs; the audit says why."""
    program, out = argv_recorder(tmp_path)
    rem = remediator(program, out, action={"allowed_targets": ["*"]})
    [act] = await rem.handle(alert(value), now=10)
    assert act.status == "refused" and "does not match" in act.reason
    assert recorded(out) == []
    assert events(rem) == ["requested", "refused"]


async def test_accepted_hostile_value_is_one_literal_argument(tmp_path):
    """With a permissive pattern, /bin/echo gets each hostile value as one argument and prints it verbatim."""
    program, out = argv_recorder(tmp_path)
    canary = tmp_path / "pwned"
    rem = remediator(program, out, actions={"echo": {"type": "command", "argv": ["/bin/echo", "{host}"],
                                                     "arg_pattern": "(?s).*", "allowed_targets": ["*"]}},
                     policy={"action": "echo"})
    for value in [*HOSTILE, f"x; touch {canary}", f"$(touch {canary})"]:
        [act] = await rem.handle(alert(value, series=value), now=10)
        assert act.status == "executed", act.reason
        assert act.result["argv"] == ["/bin/echo", value]
        assert act.result["stdout"] == value + "\n"
    assert not canary.exists()


async def test_program_must_be_allow_listed_and_fixed():
    """argv[0] cannot be templated nor outside allowed_programs (rejected at configuration)."""
    from pydantic import ValidationError

    from aiops.alerting.remediation.config import RemediationConfig

    with pytest.raises(ValidationError, match="allowed_programs"):
        RemediationConfig.model_validate({"actions": {"x": {"type": "command", "argv": ["/bin/rm", "{host}"]}}})
    with pytest.raises(ValidationError, match="absolute program path"):
        RemediationConfig.model_validate({"allowed_programs": ["{cmd}"],
                                          "actions": {"x": {"type": "command", "argv": ["{cmd}"]}}})
