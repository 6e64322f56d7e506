"""A plain line-protocol payload read at once gives exactly what reading it line by line gives."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise import dispatch
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.normalise.plain_payload import plain_columns

NOW = 1_763_805_600.0
NS = int(NOW) * 1_000_000_000
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

heads = st.sampled_from(["cpu,host=a", "cpu,host=b", "m", "#c", "{x", "cpu,host", "d,k=v=w", "é,h=a", ""])
keys = st.sampled_from(["u", "v", "a=b", "", "x,y"])
values = st.sampled_from(["1.5", "-2", "1e3", "1e999", "inf", "1_0", "3i", "t", ".", "1.2.3", "7.", "+1", "1e"])
stamps = st.sampled_from([str(NS), str(NS + 5), str(NS - 10**15), str(NS + 10**15), "1763805600", "", "-1"])
odd = st.builds(lambda h, k, v, s, sep: f"{h}{sep}{k}={v}" + (f" {s}" if s else ""),
                heads, keys, values, stamps, st.sampled_from([" ", "  ", "\t"]))
# plain lines (the whole-payload path), some of them refused by the guard: too old, too new, duplicates, the cap
plain = st.builds(lambda h, k, v, s: f"{h} {k}={v} {s}", st.sampled_from(["cpu,host=a", "cpu,host=b", "m"]),
                  st.sampled_from(["u", "v"]), st.sampled_from(["1.5", "-2", "1e3", "1e999", "7."]),
                  st.sampled_from([str(NS), str(NS + 5), str(NS - 10**15), str(NS + 10**15)]))
# plain but for their fields: several of them (read line by line, each line still without the full parser)
fields = st.builds(lambda h, v, w, s: f"{h} u={v},v={w} {s}", st.sampled_from(["cpu,host=a", "m"]),
                   st.sampled_from(["1.5", "1e999", "2i"]), st.sampled_from(["3", "t"]),
                   st.sampled_from([str(NS), str(NS + 10**15)]))
lines = st.one_of(plain, plain, plain, fields, odd)


def line_by_line(payload: bytes, guard: IngestGuard) -> dispatch.NormaliseResult:
    """What the normaliser gives reading each line alone (its general path)."""
    normaliser = dispatch._Normaliser("metrics", NOW, guard)
    for number, line in enumerate(payload.decode().split("\n"), 1):
        normaliser._line(number, line, None)
    result = normaliser._collapse(payload, "not JSON, not line protocol: ")
    for reject in result.rejects:  # as ``normalise`` counts them
        guard.count_reject(reject.reason_class)
    return result


def shape(result: dispatch.NormaliseResult) -> tuple:
    return ([(e.source, e.series_id, e.labels, e.time, e.features, e.ingest_time) for e in result.events],
            [(r.reason, r.fragment, r.reason_class) for r in result.rejects], result.skipped)


@PROPERTY
@given(payload=st.lists(lines, min_size=1, max_size=8), trailing=st.booleans(), seen=st.integers(0, 3),
       cap=st.sampled_from([1, 2, 100]))
def test_whole_payload_agrees_with_line_by_line(payload: list[str], trailing: bool, seen: int, cap: int) -> None:
    text = "\n".join(payload) + ("\n" if trailing else "")
    raw = text.encode()
    limits = IngestSettings(max_series=cap, max_past_s=86_400 * 7, max_future_s=600, dedup_cache=4)
    fast, slow = IngestGuard(limits), IngestGuard(limits)
    for guard in (fast, slow):  # the same history: some lines already seen (duplicates), series known
        for line in payload[:seen]:
            dispatch.normalise("metrics", line.encode(), now=NOW, guard=guard)
    got = dispatch.normalise("metrics", raw, now=NOW, guard=fast)
    want = line_by_line(raw, slow)
    assert shape(got) == shape(want), text
    assert fast.stats() == slow.stats()
    assert list(fast._recent) == list(slow._recent)


def test_a_plain_payload_takes_the_whole_payload_path() -> None:
    """The property above is about this path: a payload of plain lines is read by ``plain_columns``."""
    text = f"cpu,host=a u=1.5 {NS}\ncpu,host=b u=2 {NS}\n"
    columns = plain_columns(text, 1024)
    assert columns is not None and columns.series_ids == ["cpu|host=a", "cpu|host=b"]
    got = dispatch.normalise("metrics", text.encode(), now=NOW, guard=IngestGuard())
    assert [e.features for e in got.events] == [{"u": 1.5}, {"u": 2.0}] and not got.rejects
