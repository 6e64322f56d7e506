"""Masking rules: every built-in kind of variable is masked, per-source rules come first."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiops.detectors.logs.templates_config import MaskingRule, MiningConfig
from aiops.detectors.logs.templates_masking import DEFAULT_RULES, Masker, rules_for

MASKER = Masker(DEFAULT_RULES)


@pytest.mark.parametrize(
    ("message", "masked", "values"),
    [
        ("from 192.168.10.4 ok", "from <IP> ok", ["192.168.10.4"]),
        ("peer 10.1.2.3:8080 closed", "peer <IP> closed", ["10.1.2.3:8080"]),
        ("addr fe80::1ff:fe23:4567:890a up", "addr <IPV6> up", ["fe80::1ff:fe23:4567:890a"]),
        ("addr 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up", "addr <IPV6> up", ["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]),
        ("reg 0x7ffde0a1 set", "reg <HEX> set", ["0x7ffde0a1"]),
        ("commit 3f9a2b7c1d0e done", "commit <HEX> done", ["3f9a2b7c1d0e"]),
        ("took 1234 items", "took <NUM> items", ["1234"]),
        ("temp -3.5 degrees", "temp <NUM> degrees", ["-3.5"]),
        ("id 123e4567-e89b-12d3-a456-426614174000 gone", "id <UUID> gone", ["123e4567-e89b-12d3-a456-426614174000"]),
        ("Deleting block blk_-1608999687919862906 file", "Deleting block <BLK> file", ["blk_-1608999687919862906"]),
        ("open /var/log/app/server.log failed", "open <PATH> failed", ["/var/log/app/server.log"]),
        ("GET https://api.example.com/v1/x?y=1 ok", "GET <URL> ok", ["https://api.example.com/v1/x?y=1"]),
        ("mail to ops.team@example.org sent", "mail to <EMAIL> sent", ["ops.team@example.org"]),
        ("done in 250ms", "done in <DURATION>", ["250ms"]),
        ("nic 00:1A:2b:3C:4d:5E link up", "nic <MAC> link up", ["00:1A:2b:3C:4d:5E"]),
        ("at 2024-05-01T12:30:45.123Z start", "at <TIMESTAMP> start", ["2024-05-01T12:30:45.123Z"]),
        ("at Fri Jun 17 20:55:07 2005 start", "at <DATE> start", ["Fri Jun 17 20:55:07 2005"]),
        ("at wm.Animator.destroySurface:2014 x", "at wm.Animator.destroySurface:<NUM> x", ["2014"]),
        ("backend db-1.internal.example.com:5432 down", "backend <HOSTPORT> down", ["db-1.internal.example.com:5432"]),
        ("Invalid user admin from 1.2.3.4", "Invalid user <USER> from <IP>", ["admin", "1.2.3.4"]),
        ("ready=true,boot=False overlap:null", "ready=<BOOL>,boot=<BOOL> overlap:<BOOL>", ["true", "False", "null"]),
        ('acquire tag="View Lock", ws=null', 'acquire tag=<QUOTED>, ws=<BOOL>', ['"View Lock"', "null"]),
    ],
)
def test_default_rule_masks(message: str, masked: str, values: list[str]) -> None:
    """Each built-in rule replaces its kind of variable by a named placeholder and keeps the value."""
    assert MASKER.mask(message) == (masked, values)


@pytest.mark.parametrize(
    "word", ["error", "ssh2", "r27", "v1.2.3-beta", "HTTP/1.1", "IPv4", "true", "x:false1"]
)
def test_constant_words_stay(word: str) -> None:
    """Words with digits inside are not numbers: they stay for the template miner to judge."""
    assert MASKER.mask(f"x {word} y") == (f"x {word} y", [])


def test_source_rules_apply_before_defaults() -> None:
    """A per-source rule wins over a built-in one matching at the same place."""
    rules = rules_for([MaskingRule(name="SIZE", pattern=r"\d+ bytes")])
    assert Masker(rules).mask("sent 512 bytes in 3 packets")[0] == "sent <SIZE> in <NUM> packets"


def test_without_defaults_only_source_rules_apply() -> None:
    """``default_masking: false`` keeps the message as is except for the source's own rules."""
    rules = rules_for([MaskingRule(name="ID", pattern=r"#\d+")], with_defaults=False)
    assert Masker(rules).mask("job #12 on 10.0.0.1")[0] == "job <ID> on 10.0.0.1"


def test_user_named_groups_are_allowed() -> None:
    """A user regex with its own named groups still joins the single alternation."""
    rules = [MaskingRule(name="KV", pattern=r"(?P<key>\w+)=(?P<value>\d+)")]
    assert Masker(rules).mask("a=1 b=2") == ("<KV> <KV>", ["a=1", "b=2"])


def test_bad_regex_is_a_validation_error_naming_the_rule() -> None:
    """A rule whose pattern does not compile is refused when the settings load."""
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        MiningConfig.model_validate({"sources": {"x": {"masking": [{"name": "B", "pattern": "("}]}}})


def test_long_messages_are_cut() -> None:
    """Masking works on at most ``max_chars`` characters so a huge line cannot stall the miner."""
    masked, _ = Masker(DEFAULT_RULES, max_chars=20).mask("x" * 10_000)
    assert len(masked) == 20


def _reference_mask(message: str) -> tuple[str, list[str]]:
    """Every built-in rule in one plain alternation, tried at every position: what masking must equal."""
    import re

    names = [r.name for r in DEFAULT_RULES]
    regex = re.compile("|".join(f"(?P<g{i}>{r.pattern})" for i, r in enumerate(DEFAULT_RULES)))
    values: list[str] = []

    def replace(match: re.Match[str]) -> str:
        values.append(match.group(0))
        return f"<{names[int((match.lastgroup or 'g0')[1:])]}>"

    return regex.sub(replace, message), values


@pytest.mark.parametrize(
    "message",
    [
        "nic aa:bb-cc:dd-ee:ff up",  # a MAC written with both separators
        "addr 1:2:3:4:5:6:7:8 up",  # IPv6 without '::'
        "addr ::ffff:10.0.0.1 up",
        "took 12ms, 3.5s and 7 h; 12 ms is not one",
        "crc deadbeef12 and 0XFF and cafebabe",
        "at 2024-05-01 12:30:45,123+02:00 and 12:30:45",
        "user=alice for user bob: Invalid user eve from 10.1.2.3:22 to db-1.example.com:5432",
        "word0x12 r27 core.3401 a-12 x/1/2 ~/a/b ../c/d -5 +6 1e-3 2.5.6",
        'k="v w" ok=true,null Jun  3 15:42:50 2005 blk_-12 mail a.b@c.io https://x.y/z',
    ],
)
def test_rules_skipped_for_a_line_change_nothing(message: str) -> None:
    """Rules left out of a line's regex (their hint absent) or tried only after a non-word character could not have matched."""
    assert Masker(DEFAULT_RULES).mask(message) == _reference_mask(message)
