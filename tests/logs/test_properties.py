"""Properties: any text is mined without an exception, and masking keeps every character accounted for."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops.detectors.core.shapes import Event
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.intelligence import LogIntelligence
from aiops.detectors.logs.templates import TemplateMiners
from aiops.detectors.logs.templates_config import MiningConfig
from aiops.detectors.logs.templates_masking import DEFAULT_RULES, Masker

PIECES = st.sampled_from(
    ["<NUM>", "<*>", "<IP>", "<", ">", "10.0.0.1", "user", "Invalid user", "0x1f", "blk_-12", "/var/x/y",
     "12:30:00", "::1", "fe80::1", "a=1", "Failed password for", "from", "port", "ssh2", "  ", "\t", "é", "\x00"]
)
MESSAGES = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES)
def test_masking_round_trips(message: str) -> None:
    """Putting the masked values back into the placeholders gives the original message."""
    masked, values = Masker(DEFAULT_RULES).mask(message)
    pattern = re.compile("<(" + "|".join(r.name for r in DEFAULT_RULES) + ")>")
    rebuilt: list[str] = []
    pending = iter(values)
    last = count = 0
    for m in pattern.finditer(masked):
        rebuilt.append(masked[last : m.start()])
        rebuilt.append(next(pending, m.group(0)))
        last = m.end()
        count += 1
    rebuilt.append(masked[last:])
    assert count >= len(values)
    if count == len(values):  # no literal placeholder text in the original
        assert "".join(rebuilt) == message


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGES, min_size=1, max_size=30))
def test_any_text_is_mined(messages: list[str]) -> None:
    """The miner never raises on text, and every message gets a template of the same token count."""
    miners = TemplateMiners(MiningConfig())
    for message in messages:
        match = miners.add("x", message)
        assert match.template_id.startswith("x:")
        assert isinstance(match.params, list) and all(isinstance(p, str) for p in match.params)
        assert all(0 <= i < len(match.params) for i in match.standalone)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(MESSAGES, st.sampled_from([None, "info", "error", "critical", "weird"]),
                          st.floats(0, 1e6, allow_nan=False)), min_size=1, max_size=40))
def test_log_intelligence_never_raises(lines) -> None:
    """Random lines, levels and out-of-order times: anomalies come out well formed, nothing raises."""
    li = LogIntelligence(LogsConfig.model_validate({"rare_template": {"warmup_events": 3}}))
    labels = {"host": "h", "service": "s"}
    events = [Event("log", "log|host=h,service=s", labels, t, {}, message=m, level=lv) for m, lv, t in lines]
    result = li.process(events, now=max(t for _, _, t in lines) + 1000)
    assert len(result.line_scores) == len(events) and not result.rejected
    for a in result.anomalies:
        assert 0.0 <= a.score <= 1.0 and a.reason
    li2 = LogIntelligence(LogsConfig())
    li2.import_state(li.export_state(li.keys()))
    assert li2.keys() == li.keys()
