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
    """Values failing the checks or the per-action pattern are refused before anything runs; the audit says why."""
    program, out = argv_recorder(tmp_path)
    rem = remediator(program, out, action={"allowed_targets": ["*"]})
    [act] = await rem.handle(alert(value), now=10)
    assert act.status == "refused" and any(w in act.reason for w in ("allow-list", "option", "spaces")), act.reason
    assert recorded(out) == []
    assert events(rem) == ["requested", "refused"]


async def test_accepted_hostile_value_is_one_literal_argument(tmp_path):
    """With a permissive pattern, /bin/echo gets each plain but hostile value as one argument, verbatim."""
    program, out = argv_recorder(tmp_path)
    canary = tmp_path / "pwned"
    rem = remediator(program, out, actions={"echo": {"type": "command", "argv": ["/bin/echo", "{host}"],
                                                     "arg_pattern": "(?s).*", "allowed_targets": ["*"]}},
                     policy={"action": "echo"})
    for value in ["$(id)", "`id`", "web-1|id", "../../etc/passwd", f"x;touch${{IFS}}{canary}",
                  f"$(touch${{IFS}}{canary})"]:
        [act] = await rem.handle(alert(value, series=value), now=10)
        assert act.status == "executed", act.reason
        host = value.lower()  # the host label is normalised (lower case) before it fills a placeholder
        assert act.result["argv"] == ["/bin/echo", host]
        assert act.result["stdout"] == host + "\n"
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
