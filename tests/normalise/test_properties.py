"""Properties over arbitrary input: normalise() never raises, and line protocol escaping round-trips."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.normalise.line_protocol import parse_line

NOW = 1_763_805_600.0
NS = int(NOW) * 1_000_000_000
PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "metrics": [
        f"cpu,cpu=cpu0,host=web-1 usage_user=1.5,usage_idle=98i,up=t {NS}\nmem,host=a used=2u {NS}\n".encode(),
        rb'sys,host=a\ b load1=0.7,msg="a \"q\", b=c" ' + str(NS).encode(),
        json.dumps({"metrics": [{"name": "cpu", "tags": {"host": "a"}, "fields": {"u": 1.5},
                                 "timestamp": int(NOW)}]}).encode(),
        json.dumps([{"metric": "cpu.user", "value": 1.2, "host": "a", "ts": "2025-11-22T10:00:00Z"}]).encode(),
        b'{"name": "disk", "used": 5, "free": 3, "time": 1763805600000}\n{"metric": "m", "value": "2"}\n',
    ],
    "logs": [
        b'{"timestamp":"2025-11-22T10:00:00Z","host":"web-1","message":"GET / 200","level":"WARN"}\n'
        b'{"@timestamp":"2025-11-22T10:00:01Z","host":{"name":"h"},"log":{"level":"error"},"message":"x"}',
        b'[{"msg": "a", "lvl": 50, "time": 1763805600123, "kubernetes": {"container_name": "api"}}]',
        b"<38>Nov 22 09:59:00 web-1 sshd[42]: Accepted publickey for deploy\n"
        b"Nov 22 09:59:01 web-1 sshd(pam_unix)[43]: session opened\n",
        b'<165>1 2025-11-22T09:59:00.003Z host app 1 ID47 [ex@1 a="b\\"]"] \xef\xbb\xbfmsg\n'
        b"2025-11-22T09:59:00.1+00:00 web-2 nginx: GET /",
    ],
}
SPECIALS = [b"\\", b'"', b",", b"=", b" ", b"\n", b"{", b"}", b"[", b"]", b"<", b">", b":", b"#",
            b"\x00", b"\xff", b"\xe2\x82", b"NaN", b"1e999", b"-", b"\r", b"\t", b"\xef\xbb\xbf"]


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    payload = bytearray(draw(st.sampled_from(VALID[kind])))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "flip", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(len(payload) - 1, 0)))
        if op == "insert":
            payload[at:at] = draw(st.sampled_from(SPECIALS) | st.binary(min_size=1, max_size=4))
        elif op == "delete" and payload:
            del payload[at:at + draw(st.integers(1, 8))]
        elif op == "flip" and payload:
            payload[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del payload[at:]
        elif op == "duplicate":
            payload += payload[at:]
    return bytes(payload)


def check(kind: str, payload: bytes) -> None:
    guard = IngestGuard(IngestSettings(max_series=50, dedup_cache=100))
    result = normalise(kind, payload, now=NOW, guard=guard)  # type: ignore[arg-type]
    for reject in result.rejects:
        assert reject.reason and not reject.reason.startswith("internal error"), reject.reason
        assert isinstance(reject.fragment, bytes)
    if not result.events and not result.skipped:
        assert len(result.rejects) == 1 and result.rejects[0].fragment == payload
    stripped = payload.lstrip()
    if result.events and not stripped.startswith((b"{", b"[")):
        assert all(r.fragment in payload for r in result.rejects)
    for event in result.events:
        assert event.source == ("metric" if kind == "metrics" else "log")
        assert all(isinstance(v, float) for v in event.features.values())
        assert NOW - guard.settings.max_past_s <= event.time <= NOW + guard.settings.max_future_s
    stats = guard.stats()
    assert stats["accepted"] == len(result.events)


@PROPERTY
@given(payload=st.binary(max_size=300))
def test_random_bytes_as_metrics(payload: bytes) -> None:
    check("metrics", payload)


@PROPERTY
@given(payload=st.binary(max_size=300))
def test_random_bytes_as_logs(payload: bytes) -> None:
    check("logs", payload)


@PROPERTY
@given(payload=mutated("metrics"))
def test_mutated_metric_messages(payload: bytes) -> None:
    check("metrics", payload)


@PROPERTY
@given(payload=mutated("logs"))
def test_mutated_log_messages(payload: bytes) -> None:
    check("logs", payload)


@PROPERTY
@given(text=st.text(max_size=200))
def test_random_text_both_kinds(text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    check("metrics", raw)
    check("logs", raw)


def test_valid_samples_give_events_only() -> None:
    for kind, samples in VALID.items():
        for payload in samples:
            result = normalise(kind, payload, now=NOW, guard=IngestGuard())  # type: ignore[arg-type]
            assert result.events and not result.rejects, (payload, result.rejects)


# -- line protocol escaping round-trip ---------------------------------------------------------

names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


def esc(text: str, chars: str) -> str:
    """Backslash-escape ``chars`` as line protocol writers do (a backslash alone stays literal)."""
    out = text
    for char in chars:
        out = out.replace(char, "\\" + char)
    return out


@PROPERTY
@given(
    measurement=names.filter(lambda s: not s.startswith("#") and not s.endswith("\\") and s.strip() == s),
    tags=st.dictionaries(names.filter(lambda s: not s.endswith("\\")), names.filter(lambda s: not s.endswith("\\")),
                         max_size=3),
    fields=st.dictionaries(names.filter(lambda s: not s.endswith("\\")),
                           st.floats(allow_nan=False, allow_infinity=False) | st.integers(-2**53, 2**53)
                           | st.booleans() | st.text(max_size=10), min_size=1, max_size=4),
    stamp=st.none() | st.integers(-(2**62), 2**62),
)
def test_escaped_line_round_trips(measurement: str, tags: dict[str, str], fields: dict[str, object],
                                  stamp: int | None) -> None:
    numeric = {k: v for k, v in fields.items() if not isinstance(v, str)}
    if not numeric:
        return
    parts = [esc(measurement, ", ")] + [f"{esc(k, ',= ')}={esc(v, ',= ')}" for k, v in tags.items()]
    rendered = []
    for key, value in fields.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = f"{value}i"
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        rendered.append(f"{esc(key, ',= ')}={text}")
    line = ",".join(parts) + " " + ",".join(rendered) + ("" if stamp is None else f" {stamp}")
    name, got_tags, got_fields, got_stamp = parse_line(line)
    assert name == measurement
    assert got_tags == tags
    assert got_fields == {k: float(v) for k, v in numeric.items()}
    assert got_stamp == stamp


@PROPERTY
@given(line=st.text(alphabet="ab,= =1.5ieuft-\"\\#", min_size=1, max_size=30))
def test_fast_path_agrees_with_full_parser(line: str) -> None:
    """The unescaped fast path and the full parser accept the same lines with the same result."""
    from aiops.pipeline.normalise.line_protocol import BadLine, _parse_escaped, parse_plain

    try:
        fast = parse_plain(line)
    except BadLine:
        fast = "bad"
    if fast is None:
        return
    try:
        full = _parse_escaped(line)
    except BadLine:
        full = "bad"
    assert (fast if fast == "bad" else fast[1:]) == full, line
