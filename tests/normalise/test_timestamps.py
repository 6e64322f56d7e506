"""Timestamps: epoch units by magnitude, ISO 8601 with and without offsets, time zones."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from aiops.pipeline.normalise.timestamps import BadTimestamp, epoch_seconds, iso, parse_time

T = 1_700_000_000  # 2023-11-14T22:13:20Z


class TestEpochUnits:
    """The unit of an epoch number follows from its size."""

    @pytest.mark.parametrize(
        "value", [T, T * 1_000, T * 1_000_000, T * 1_000_000_000, float(T), T * 1e3, T * 1e9]
    )
    def test_same_instant_in_every_unit(self, value: float) -> None:
        assert epoch_seconds(value) == pytest.approx(T, abs=1e-6)

    def test_fractions_survive(self) -> None:
        assert epoch_seconds(1_700_000_000_123) == pytest.approx(T + 0.123)
        assert epoch_seconds(1_700_000_000_123_456_789) == pytest.approx(T + 0.123456789, abs=1e-6)

    def test_numeric_strings(self) -> None:
        assert parse_time(str(T * 1000)) == pytest.approx(T)
        assert parse_time(f"{T}.5") == pytest.approx(T + 0.5)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, 10**30, "1e400"])
    def test_refused(self, bad: object) -> None:
        with pytest.raises(BadTimestamp):
            parse_time(bad)


class TestIso:
    """ISO 8601 / RFC 3339 text: offsets honoured, naive times in the configured zone."""

    @pytest.mark.parametrize(
        "text",
        [
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20+00:00",
            "2023-11-14T23:13:20+01:00",
            "2023-11-14T17:13:20-05:00",
            "2023-11-14T22:13:20.000000000Z",
            "2023-11-14 22:13:20",
            "20231114T221320Z",
        ],
    )
    def test_same_instant(self, text: str) -> None:
        assert parse_time(text) == pytest.approx(T)

    def test_naive_time_in_configured_zone(self) -> None:
        assert parse_time("2023-11-14T23:13:20", ZoneInfo("Europe/Berlin")) == pytest.approx(T)

    def test_offset_wins_over_configured_zone(self) -> None:
        assert parse_time("2023-11-14T22:13:20Z", ZoneInfo("America/New_York")) == pytest.approx(T)

    def test_nanosecond_fraction_kept_to_microseconds(self) -> None:
        assert parse_time("2023-11-14T22:13:20.123456789Z") == pytest.approx(T + 0.123456)

    @pytest.mark.parametrize("text", ["yesterday", "2023-13-01T00:00:00Z", "", "14/11/2023"])
    def test_refused_with_reason(self, text: str) -> None:
        with pytest.raises(BadTimestamp, match="is not epoch seconds/ms/us/ns nor ISO 8601"):
            parse_time(text)

    def test_iso_rendering(self) -> None:
        assert iso(T) == "2023-11-14T22:13:20.000Z"
        assert "since epoch" in iso(1e300)
