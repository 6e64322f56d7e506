"""Log windows: counts per (log series, window), closed by later events or by flush, restartable."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import IngestSettings
from aiops.pipeline.log_windows import LogWindowAggregator
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard

T0 = 1_763_805_600.0  # a multiple of 60
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "loghub"


def line(t: float, level: str = "info", host: str = "a", service: str = "api") -> Event:
    labels = {"host": host, "service": service}
    return Event("log", f"log|host={host},service={service}", labels, t, {}, message="m", level=level)


class TestClosing:
    def test_window_closes_on_later_event_of_same_series(self) -> None:
        agg = LogWindowAggregator(60.0)
        assert agg.add([line(T0), line(T0 + 1, "error"), line(T0 + 2, "critical"), line(T0 + 3, "warning")]) == []
        out = agg.add([line(T0 + 60)])
        assert len(out) == 1
        e = out[0]
        assert (e.source, e.series_id, e.time, e.labels) == (
            "metric", "logs|host=a,service=api", T0, {"host": "a", "service": "api"})
        assert e.features == {"count": 4.0, "error_count": 2.0, "warning_count": 1.0, "error_ratio": 0.5}

    def test_other_series_does_not_close(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0, host="a")])
        assert agg.add([line(T0 + 500, host="b")]) == []
        assert agg.open_windows() == 2

    def test_empty_windows_between_are_not_invented(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0)])
        out = agg.add([line(T0 + 600), line(T0 + 660)])
        assert [e.time for e in out] == [T0, T0 + 600]

    def test_metric_events_are_ignored(self) -> None:
        agg = LogWindowAggregator(60.0)
        assert agg.add([Event("metric", "cpu", {}, T0, {"u": 1.0})]) == []
        assert agg.open_windows() == 0

    def test_windows_align_on_multiples(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0 + 59.999)])
        assert agg.add([line(T0 + 60.0)])[0].time == T0


class TestFlush:
    def test_flush_waits_one_window_of_grace(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0 + 10)])
        assert agg.flush(now=T0 + 119.9) == []
        out = agg.flush(now=T0 + 120)
        assert [(e.time, e.features["count"]) for e in out] == [(T0, 1.0)]
        assert agg.flush(now=T0 + 1000) == []

    def test_late_event_after_flush_is_counted_not_reopened(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0)])
        agg.flush(now=T0 + 120)
        assert agg.add([line(T0 + 30)]) == []
        assert agg.late == 1 and agg.open_windows() == 0

    def test_late_event_after_close_by_event(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0), line(T0 + 60), line(T0 + 5)])
        assert agg.late == 1
        assert agg.add([line(T0 + 120)])[0].features["count"] == 1.0


class TestEmptyWindows:
    """With empty_windows=N, silence becomes zero counts for up to N windows."""

    def test_gap_between_lines_is_filled(self) -> None:
        agg = LogWindowAggregator(60.0, empty_windows=5)
        agg.add([line(T0)])
        out = agg.add([line(T0 + 180, "error")])
        assert [(e.time, e.features["count"]) for e in out] == [(T0, 1.0), (T0 + 60, 0.0), (T0 + 120, 0.0)]
        assert out[1].features == {"count": 0.0, "error_count": 0.0, "warning_count": 0.0, "error_ratio": 0.0}
        assert out[1].series_id == "logs|host=a,service=api"

    def test_gap_fill_is_capped(self) -> None:
        agg = LogWindowAggregator(60.0, empty_windows=2)
        agg.add([line(T0)])
        out = agg.add([line(T0 + 6000)])
        assert [e.time for e in out] == [T0, T0 + 60, T0 + 120]
        assert agg.add([line(T0 + 6060)])[0].time == T0 + 6000

    def test_flush_reports_silence_after_grace_then_stops(self) -> None:
        agg = LogWindowAggregator(60.0, empty_windows=3)
        agg.add([line(T0)])
        assert [e.time for e in agg.flush(now=T0 + 120)] == [T0]
        assert agg.flush(now=T0 + 179) == []
        assert [e.features["count"] for e in agg.flush(now=T0 + 180)] == [0.0]
        assert [e.time for e in agg.flush(now=T0 + 10_000)] == [T0 + 120, T0 + 180]
        assert agg.flush(now=T0 + 20_000) == []
        # a line for a window already reported empty is late
        agg.add([line(T0 + 61)])
        assert agg.late == 1

    def test_off_by_default(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0)])
        assert [e.time for e in agg.add([line(T0 + 600)])] == [T0]
        assert agg.flush(now=T0 + 10_000)[0].time == T0 + 600

    def test_state_keeps_the_setting(self) -> None:
        agg = LogWindowAggregator(60.0, empty_windows=1)
        agg.add([line(T0)])
        restored = LogWindowAggregator.from_state(agg.export_state())
        assert [e.time for e in restored.add([line(T0 + 600)])] == [T0, T0 + 60]


class TestStateAndBounds:
    def test_export_import_keeps_open_windows(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0), line(T0 + 1, "error")])
        agg.add([line(T0 - 600)])  # its window ended before T0's event: late
        state = pickle.loads(pickle.dumps(agg.export_state()))
        restored = LogWindowAggregator.from_state(state)
        out = restored.add([line(T0 + 2), line(T0 + 60)])
        assert out[0].features["count"] == 3.0 and out[0].features["error_count"] == 1.0
        assert restored.late == agg.late == 1

    def test_state_is_a_copy(self) -> None:
        agg = LogWindowAggregator(60.0)
        agg.add([line(T0)])
        state = agg.export_state()
        agg.add([line(T0 + 1)])
        assert LogWindowAggregator.from_state(state).add([line(T0 + 60)])[0].features["count"] == 1.0

    @pytest.mark.parametrize("state", [{}, {"version": 1}, {"version": 9, "window_s": 60},
                                       {"version": 1, "window_s": 60, "max_series": 5, "late": 0,
                                        "refused": 0, "series": 3}])
    def test_bad_state_is_an_input_error(self, state: dict) -> None:
        with pytest.raises(InputError):
            LogWindowAggregator.from_state(state)

    def test_series_bound_forgets_idle_then_refuses(self) -> None:
        agg = LogWindowAggregator(60.0, max_series=2)
        agg.add([line(T0, host="a"), line(T0, host="b")])
        agg.add([line(T0, host="c")])
        assert agg.refused == 1
        agg.flush(now=T0 + 120)
        agg.add([line(T0 + 200, host="c")])
        assert agg.open_windows() == 1 and agg.refused == 1

    @pytest.mark.parametrize("window", [0, -1, float("nan"), float("inf")])
    def test_bad_window_is_a_config_error(self, window: float) -> None:
        with pytest.raises(ConfigError):
            LogWindowAggregator(window)

    def test_negative_empty_windows_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError):
            LogWindowAggregator(60.0, empty_windows=-1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 600), st.sampled_from(["info", "warning", "error"]),
                          st.sampled_from(["a", "b"])), max_size=60), st.integers(1, 7), st.sampled_from([0, 3]))
def test_counts_are_causal_and_complete(points: list[tuple[float, str, str]], cut: int, empties: int) -> None:
    """Each emitted window counts exactly the in-order events of it seen so far; nothing else."""
    events = [line(T0 + t, level, host) for t, level, host in points]
    agg = LogWindowAggregator(60.0, empty_windows=empties)
    out: list[Event] = []
    chunk = max(1, len(events) // cut)
    for i in range(0, len(events), chunk):
        out += agg.add(events[i:i + chunk])
    out += agg.flush(now=T0 + 10_000)
    counted = sum(e.features["count"] for e in out)
    assert counted + agg.late == len(events)
    for e in out:
        assert 0 <= e.features["error_ratio"] <= 1
        assert e.features["error_count"] + e.features["warning_count"] <= e.features["count"]
        assert e.time % 60 == 0
    per_series: dict[str, float] = {}
    for e in out:
        assert per_series.get(e.series_id, -1) < e.time  # windows of a series come out in order
        per_series[e.series_id] = e.time
    # reference: an event counts in its window unless a later window of its series was already seen
    newest: dict[str, float] = {}
    expected: dict[tuple[str, float], list[float]] = {}
    for e in events:
        start = math.floor(e.time / 60) * 60
        if start < newest.get(e.series_id, -1.0):
            continue
        newest[e.series_id] = start
        c = expected.setdefault(("logs" + e.series_id[3:], start), [0.0, 0.0, 0.0])
        c[0] += 1
        c[1] += e.level == "error"
        c[2] += e.level == "warning"
    got = {(e.series_id, e.time): [e.features["count"], e.features["error_count"], e.features["warning_count"]]
           for e in out if e.features["count"]}
    assert got == expected
    assert len({(e.series_id, e.time) for e in out}) == len(out)  # no window emitted twice


def test_loghub_linux_through_normalise_and_windows() -> None:
    raw = (DATA / "Linux" / "Linux_2k.log").read_bytes()
    now = 1_769_817_600.0  # 2026-01-31: the June-July lines are last year's
    guard = IngestGuard(IngestSettings(max_past_s=400 * 86400.0))
    events = normalise("logs", raw, now=now, guard=guard).events
    agg = LogWindowAggregator(3600.0)
    out = agg.add(events) + agg.flush(now=now)
    by_service = {}
    for e in out:
        by_service[e.labels.get("service", "")] = by_service.get(e.labels.get("service", ""), 0) + e.features["count"]
    assert sum(by_service.values()) + agg.late == 2000
    assert agg.late == 0  # the sample is in time order
    assert by_service["sshd"] > 100 and by_service["ftpd"] > 100
