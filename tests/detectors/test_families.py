"""Scenario families: each shape of operations data is quiet where it is clean and paged where it is not.

The default configuration scores every family once (module fixture, seed 0);
each family's test then asserts the bounds the family states: false-alarm
episodes per 10,000 clean points, the share of anomalies found within the
stated delay, their median delay, episodes while a series settles, and no
series still inside an episode at its end (a baseline that froze).
"""

from __future__ import annotations

import numpy as np
import pytest

from aiops.detectors.evaluation.cli import main as cli_main
from aiops.detectors.evaluation.metrics import EventMetrics
from aiops.detectors.evaluation.quality import (
    FamilyResult,
    format_families,
    judge_family,
    measure_families,
    onset_windows,
)
from aiops.detectors.evaluation.scenarios import FAMILIES, Family, family


@pytest.fixture(scope="module")
def report():
    return measure_families(seed=0)


@pytest.fixture(scope="module")
def results(report) -> dict[str, FamilyResult]:
    return {r.family.name: r for r in report.results}


def check_bounds(r: FamilyResult) -> None:
    """Assert each bound the family states, with the figures in the message."""
    fam, e = r.family, r.events
    assert e.events == sum(len(sc.onsets) for sc in fam.generate(0)) > 0
    assert e.false_per_10k <= fam.max_false_per_10k, f"{e.false_episodes} false episodes, {e.clean_points} clean points"
    assert e.recall >= fam.min_recall, f"found {e.found}/{e.events} within {fam.detect_within} points"
    assert e.median_delay <= fam.max_median_delay, f"delays {e.delays}"
    if fam.max_settle_episodes is not None:
        assert r.settle_episodes <= fam.max_settle_episodes
    assert r.stuck == 0, f"{r.stuck} series still inside an episode at their end"


def xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


class TestGenerators:
    @pytest.mark.parametrize("name", list(FAMILIES))
    def test_same_seed_same_series(self, name):
        """A seed gives the same times, values and labels every time; another seed gives other values."""
        fam = FAMILIES[name]
        a, b, c = fam.generate(7), fam.generate(7), fam.generate(8)
        for x, y in zip(a, b):
            assert np.array_equal(x.times, y.times) and np.array_equal(x.X, y.X) and np.array_equal(x.labels, y.labels)
        assert not all(np.array_equal(x.X, z.X) for x, z in zip(a, c))

    @pytest.mark.parametrize("name", list(FAMILIES))
    def test_labels_are_the_detection_windows(self, name):
        """Each onset opens a window of exactly detect_within rows, after the settle rows and before the end."""
        fam = FAMILIES[name]
        for sc in fam.generate(1):
            assert sc.X.shape == (len(sc.times), 1) and np.isfinite(sc.X).all() and np.isfinite(sc.times).all()
            expected = np.zeros(len(sc.times), dtype=bool)
            for at in sc.onsets:
                assert fam.settle < at < len(sc.times) - fam.detect_within
                expected[at:at + fam.detect_within] = True
            assert np.array_equal(sc.labels, expected)

    def test_sampling_is_realistic(self):
        """Epoch times in 2026 at the stated intervals; only the irregular family has gaps and late points."""
        for name, fam in FAMILIES.items():
            sc = fam.generate(0)[0]
            assert 1.7e9 < sc.times[0] < 1.9e9
            steps = np.diff(sc.times)
            if name == "irregular_gaps":
                assert (steps < 0).any() and (steps > 300).sum() >= 4
            else:
                assert np.allclose(steps, steps[0]) and steps[0] in (10.0, 60.0, 300.0)

    def test_bad_name_and_seed_are_refused(self):
        with pytest.raises(ValueError, match="unknown scenario family 'spikes'"):
            family("spikes")
        with pytest.raises(ValueError, match="non-negative"):
            FAMILIES["quantised"].generate(-1)


class TestJudging:
    def test_figures_of_hand_made_marks(self):
        """A second page is false, an opening while settling is counted apart, an episode open at the end is stuck."""
        fam = Family("toy", FAMILIES["level_shift_up"].make, 1, detect_within=3, settle=10, max_false_per_10k=1.0,
                     max_median_delay=1, max_settle_episodes=0)
        sc = fam.generate(0)[0]
        at, n = sc.onsets[0], len(sc.times)
        alert, inside = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        alert[[2, at + 1, at + 500]] = True
        inside[at + 500:] = True
        r = judge_family(fam, [(sc, alert, inside)])
        assert r.events == EventMetrics(1, 1, (1,), 1, n - 10 - 3)
        assert (r.settle_episodes, r.stuck, r.interval_s, r.points) == (1, 1, 10.0, n)
        assert r.failures() == [f"false {1e4 / (n - 13):.1f}/10k > 1", "1 settle episodes > 0", "1 stuck"]

    def test_table_names_every_family(self, report):
        """The table has a row per family and a closing count of the families within their bounds."""
        text = format_families(report)
        for name in FAMILIES:
            assert name in text
        assert f"/{len(FAMILIES)} families within their bounds" in text

    def test_cli_refuses_an_unknown_family(self, capsys):
        """An unknown family name is an error naming it, exit code 2."""
        assert cli_main(["quality", "--family", "nope", "--no-skab"]) == 2
        assert "unknown scenario family 'nope'" in capsys.readouterr().err

    def test_cli_prints_the_chosen_families(self, capsys):
        """``aiops quality --family NAME`` prints that family's row only, without the older tables."""
        assert cli_main(["quality", "--family", "flat_then_step", "--no-skab"]) == 0
        out = capsys.readouterr().out
        assert "flat_then_step" in out and "/1 families within their bounds" in out
        assert "quantised" not in out and "injected faults" not in out


class TestFamilies:
    def test_level_shift_up(self, results):
        """A latency that moves up 5-8 sd for good: paged within 2 points, once; at most 1 false episode per 10k."""
        check_bounds(results["level_shift_up"])

    def test_level_shift_down(self, results):
        """Throughput that drops 5-8 sd for good: paged within 2 points, once; at most 1 false episode per 10k."""
        check_bounds(results["level_shift_down"])

    def test_bursty_counts(self, results):
        """Negative-binomial counts: bursts are not paged (2 per 10k at most), an 8x storm is within 6 points."""
        check_bounds(results["bursty_counts"])

    def test_sparse_counts(self, results):
        """Poisson counts below 1 per interval: bursts not paged (2 per 10k at most), an 8x storm within 6 points."""
        check_bounds(results["sparse_counts"])

    def test_lognormal_latency(self, results):
        """A long right tail is not paged (2 per 10k at most); the distribution times 4 is, within 6 points."""
        check_bounds(results["lognormal_latency"])

    def test_flat_then_step(self, results):
        """A constant that steps once is one page, at the step, and nothing else (there is no noise to excuse it)."""
        check_bounds(results["flat_then_step"])

    def test_quantised(self, results):
        """One-quantum blips are not paged; a jump of 4 quanta is, at once."""
        check_bounds(results["quantised"])

    def test_goes_flat(self, results):
        """A live gauge that goes flat (a stuck exporter) is one page, within 2 minutes."""
        check_bounds(results["goes_flat"])

    def test_square_wave(self, results):
        """Once both states are known the wave is quiet; a level never seen is paged within 3 points."""
        check_bounds(results["square_wave"])

    def test_switching_states(self, results):
        """Random switches between three known states are quiet; a fourth state is paged within 3 points."""
        check_bounds(results["switching_states"])

    def test_daily_seasonal(self, results):
        """After 3 days the daily cycle is quiet; a daytime level at night is paged within 5 minutes."""
        check_bounds(results["daily_seasonal"])

    def test_weekly_seasonal(self, results):
        """After a week the weekly cycle is quiet; a working day's level on a Saturday is paged within 10 minutes."""
        check_bounds(results["weekly_seasonal"])

    def test_trend_with_drift(self, results):
        """A steady fill is quiet; a 6x faster fill or a slow drift away is paged within 30 minutes (median)."""
        check_bounds(results["trend_with_drift"])

    @xfail("a tripled spike rate is found in 3 of 4 within an hour (median 150 points): the error scale of the "
           "fourth grows with its spikes, which hides part of them from the spike-rate CUSUM")
    def test_rising_spike_rate(self, results):
        """Spikes every 5 minutes are quiet; their rate tripling is paged within 30 minutes (median), 1 hour at most."""
        check_bounds(results["rising_spike_rate"])

    def test_irregular_gaps(self, results):
        """Jitter, gaps and late points are quiet; a level shift right after a gap is paged within 2 points."""
        check_bounds(results["irregular_gaps"])

    def test_early_outlier(self, results):
        """A value 1000x too large among the first points opens at most one episode and does not hide a later shift."""
        check_bounds(results["early_outlier"])


class TestAnomalyScoreAsNabReadsIt:
    """NAB reads anomaly_score alone: over every family's series, with windows around the onsets, it ranks them."""

    def test_windows_are_centred_on_the_onsets_and_span_a_tenth_of_the_rows(self):
        sc = family("level_shift_up").generate(0)[0]
        (first, last), = onset_windows(sc)
        assert first <= sc.onsets[0] <= last and abs((first + last) / 2 - sc.onsets[0]) <= 1
        assert last - first + 1 == pytest.approx(0.1 * len(sc.times), abs=2)

    def test_the_families_score_at_least_80_on_the_standard_profile(self, report):
        """Changes no single point shows (drifts, spike rates, new states) score where their evidence is clear.

        Before that, anomaly_score found 47 of the 63 windows and scored 66 (seed 0); the threshold a person
        would pick sits above every ordinary point of every family.
        """
        nab = report.nab
        assert nab is not None and nab["standard"].windows == report.nab_files == 63
        assert nab["standard"].score >= 80.0 and nab["standard"].detected >= 58
        assert "NAB over 63 file(s)" in format_families(report)
