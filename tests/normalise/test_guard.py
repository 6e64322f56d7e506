"""The ingest guard: non-finite values, freshness window, duplicates, series cap, counters."""

from __future__ import annotations

import pytest

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.guard import GuardReject, IngestGuard

NOW = 1_763_805_600.0  # 2025-11-22T10:00:00Z


def metric(series: str = "cpu|host=a", time: float = NOW, **features: float) -> Event:
    return Event("metric", series, {}, time, features or {"v": 1.0})


def refusal(guard: IngestGuard, event: Event) -> GuardReject:
    with pytest.raises(GuardReject) as caught:
        guard.admit(event, now=NOW)
    return caught.value


class TestValues:
    def test_nan_and_inf_refused_with_feature_name(self) -> None:
        guard = IngestGuard()
        assert str(refusal(guard, metric(x=float("nan")))) == "feature 'x' is NaN"
        assert str(refusal(guard, metric(y=float("-inf")))) == "feature 'y' is infinite"
        assert guard.stats()["rejected_non_finite"] == 0, "the caller counts what it dead-letters"
        assert guard.stats()["accepted"] == 0

    def test_non_finite_time_refused(self) -> None:
        assert "not a finite number" in str(refusal(IngestGuard(), metric(time=float("nan"))))

    def test_reject_is_an_input_error(self) -> None:
        assert isinstance(refusal(IngestGuard(), metric(x=float("nan"))), InputError)


class TestFreshness:
    def test_too_old_shows_the_time(self) -> None:
        guard = IngestGuard(IngestSettings(max_past_s=3600))
        exc = refusal(guard, metric(time=NOW - 3601))
        assert exc.reason_class == "too_old"
        assert str(exc) == ("event time 2025-11-22T08:59:59.000Z is older than now - 3600s "
                            "(now 2025-11-22T10:00:00.000Z)")

    def test_too_new_shows_the_time(self) -> None:
        guard = IngestGuard(IngestSettings(max_future_s=300))
        exc = refusal(guard, metric(time=NOW + 301))
        assert exc.reason_class == "too_new"
        assert "2025-11-22T10:05:01.000Z is later than now + 300s" in str(exc)

    def test_edges_are_accepted(self) -> None:
        guard = IngestGuard(IngestSettings(max_past_s=3600, max_future_s=300))
        assert guard.admit(metric(time=NOW - 3600), now=NOW)
        assert guard.admit(metric(time=NOW + 300), now=NOW)


class TestDuplicates:
    def test_exact_duplicate_skipped_once_seen(self) -> None:
        guard = IngestGuard()
        assert guard.admit(metric(v=1.0), now=NOW) is True
        assert guard.admit(metric(v=1.0), now=NOW) is False
        assert guard.admit(metric(v=2.0), now=NOW) is True  # another value is not a duplicate
        assert guard.admit(metric(time=NOW + 1, v=1.0), now=NOW) is True
        assert guard.stats()["duplicates"] == 1

    def test_log_duplicates_compare_the_message(self) -> None:
        guard = IngestGuard()
        a = Event("log", "log|host=a", {"host": "a"}, NOW, {}, message="x")
        b = Event("log", "log|host=a", {"host": "a"}, NOW, {}, message="y")
        assert guard.admit(a, now=NOW) and guard.admit(b, now=NOW)
        assert guard.admit(a, now=NOW) is False

    def test_lru_is_bounded(self) -> None:
        guard = IngestGuard(IngestSettings(dedup_cache=2))
        for v in (1.0, 2.0, 3.0):
            assert guard.admit(metric(v=v), now=NOW)
        assert guard.admit(metric(v=1.0), now=NOW) is True  # evicted: accepted again
        assert guard.admit(metric(v=3.0), now=NOW) is False
        assert len(guard._recent) == 2

    def test_dedup_disabled(self) -> None:
        guard = IngestGuard(IngestSettings(dedup_cache=0))
        assert guard.admit(metric(), now=NOW) and guard.admit(metric(), now=NOW)


class TestSeriesCap:
    def test_new_series_beyond_cap_refused_known_ones_pass(self) -> None:
        guard = IngestGuard(IngestSettings(max_series=2))
        assert guard.admit(metric("a"), now=NOW) and guard.admit(metric("b"), now=NOW)
        exc = refusal(guard, metric("c"))
        assert exc.reason_class == "series_cap"
        assert str(exc) == "series cap 2 reached: series 'c' refused"
        assert guard.admit(metric("a", v=5.0), now=NOW)
        refusal(guard, metric("d"))
        assert guard.refused_series == 2
        stats = guard.stats()
        assert stats["series_seen"] == 2 and stats["rejected_series_cap"] == 0 and stats["accepted"] == 3

    def test_default_cap_message(self) -> None:
        guard = IngestGuard()
        guard._series.update(str(i) for i in range(100_000))
        assert str(refusal(guard, metric("new"))).startswith("series cap 100000 reached")


class TestSettings:
    def test_unknown_zone_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="Mars/Olympus"):
            IngestGuard(IngestSettings(default_timezone="Mars/Olympus"))

    def test_stats_has_every_counter(self) -> None:
        assert set(IngestGuard().stats()) == {
            "accepted", "duplicates", "series_seen", "refused_series", "rejected_parse",
            "rejected_non_finite", "rejected_too_old", "rejected_too_new", "rejected_series_cap", "rejected_internal",
        }
