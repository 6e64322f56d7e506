"""The log detectors, one class each: score first, then learn."""

from __future__ import annotations

import pickle

from aiops.detectors.logs.config import (
    ErrorBurstConfig,
    ParameterConfig,
    RareTemplateConfig,
    SequenceConfig,
    TemplateFrequencyConfig,
)
from aiops.detectors.logs.error_burst import ErrorBurstDetector
from aiops.detectors.logs.parameter import ParameterDetector
from aiops.detectors.logs.rare_template import RareTemplateDetector
from aiops.detectors.logs.scoring import RobustWindow, exceedance_score
from aiops.detectors.logs.sequence import SequenceDetector
from aiops.detectors.logs.template_frequency import TemplateFrequencyDetector


class TestRareTemplate:
    def test_silent_during_warmup_then_flags_new(self) -> None:
        """Nothing fires while the source is learned; afterwards a never-seen template does, once."""
        d = RareTemplateDetector(RareTemplateConfig(warmup_events=10, rare_max_count=0))
        assert all(d.observe("t1" if i % 2 else "t2", float(i)) is None for i in range(5))
        assert d.observe("t3", 5.0) is None  # still warming up: t3 is learned silently
        for i in range(6, 20):
            assert d.observe("t1", float(i)) is None
        first = d.observe("t9", 20.0, template="disk failure on <*>")
        assert first is not None and first.kind == "new_template" and first.score >= first.threshold
        assert "disk failure on <*>" in first.reason
        assert d.observe("t9", 21.0) is None  # seen now, and rare_max_count=0

    def test_rare_template_fires_until_it_is_common(self) -> None:
        """A template seen once in 1000 lines is rare; after many occurrences it no longer is."""
        d = RareTemplateDetector(RareTemplateConfig(warmup_events=100, rare_share=0.01, rare_max_count=3))
        for i in range(1000):
            d.observe("common", float(i))
        d.observe("odd", 1000.0)
        again = d.observe("odd", 1001.0)
        assert again is not None and again.kind == "rare_template"
        for i in range(20):
            d.observe("odd", 1002.0 + i)
        assert d.observe("odd", 1100.0) is None

    def test_level_filter(self) -> None:
        """With levels configured, new templates of other levels are learned without firing."""
        d = RareTemplateDetector(RareTemplateConfig(warmup_events=1, levels=["error"]))
        d.observe("a", 0.0, level="info")
        assert d.observe("b", 1.0, level="info") is None
        assert d.observe("c", 2.0, level="error") is not None


class TestErrorBurst:
    def test_burst_fires_on_the_line_that_makes_it(self) -> None:
        """Quiet windows teach the norm; the error that crosses the limit is flagged, with onset key once."""
        d = ErrorBurstDetector(ErrorBurstConfig(window_s=60, min_errors=5, z_threshold=4))
        t = 0.0
        for _ in range(30):  # 30 windows with one error each
            d.observe("error", t)
            d.observe("info", t + 1)
            t += 60
        hits = [d.observe("error", t + i) for i in range(12)]
        flagged = [i for i, h in enumerate(hits) if h is not None]
        assert flagged and flagged[0] >= 4  # needs at least min_errors
        assert all(hits[i] is not None for i in range(flagged[0], 12))
        onsets = [h for h in hits if h is not None and h.key]
        assert len(onsets) == 1

    def test_info_lines_never_fire(self) -> None:
        d = ErrorBurstDetector(ErrorBurstConfig(window_s=1, min_errors=1, z_threshold=0.1))
        assert all(d.observe("info", i * 0.01) is None for i in range(500))

    def test_line_windows(self) -> None:
        """With window_lines, windows are blocks of lines (for sampled logs)."""
        d = ErrorBurstDetector(ErrorBurstConfig(window_lines=10, min_errors=3, z_threshold=3))
        for i in range(200):
            assert d.observe("error" if i % 10 == 0 else "info", float(i)) is None
        hits = [d.observe("critical", 200.0 + i) for i in range(10)]
        assert sum(h is not None for h in hits) >= 5

    def test_a_burst_does_not_become_the_norm(self) -> None:
        """Windows that were bursts are not learned, so a long outage keeps firing."""
        d = ErrorBurstDetector(ErrorBurstConfig(window_lines=10, min_errors=3, z_threshold=3))
        for i in range(100):
            d.observe("info", float(i))
        flagged = sum(d.observe("error", 100.0 + i) is not None for i in range(100))
        assert flagged >= 80


class TestTemplateFrequency:
    def test_spike_fires_and_steady_does_not(self) -> None:
        """Steady counts are learned; a tenfold spike of one template fires at window close."""
        d = TemplateFrequencyDetector(TemplateFrequencyConfig(window_s=10, warmup_windows=5))
        closed = []
        for w in range(20):
            for i in range(5):
                closed += d.add("a", w * 10 + i)
                closed += d.add("b", w * 10 + i + 0.5)
        assert all(not c.findings for c in closed)
        for i in range(50):
            closed += d.add("a", 200 + i * 0.1)
        closed += d.add("b", 205)
        closed += d.close_until(300.0)
        last = closed[-1]
        assert [f.key for f in last.findings] == ["a"]
        assert last.vector["total"] == 51 and last.vector["ta"] == 50

    def test_window_closes_by_clock(self) -> None:
        """An idle source's window closes once the clock passes its end plus the lateness."""
        d = TemplateFrequencyDetector(TemplateFrequencyConfig(window_s=10, lateness_s=5))
        d.add("a", 1.0)
        assert d.close_until(14.0) == []
        assert len(d.close_until(15.0)) == 1
        assert d.close_until(100.0) == []


class TestParameter:
    def test_far_value_fires_and_normal_spread_does_not(self) -> None:
        d = ParameterDetector(ParameterConfig(min_history=20, z_threshold=8))
        for i in range(200):
            assert d.observe("t", [str(200 + (i * 37) % 50), "GET"], float(i)) is None
        f = d.observe("t", ["5000", "GET"], 201.0, template="took <*> ms")
        assert f is not None and f.kind == "parameter" and f.values["value"] == 5000.0
        assert "took <*> ms" in f.reason

    def test_identifiers_are_not_numbers(self) -> None:
        """Hex, IPs and zero-padded ids are not scored as quantities."""
        d = ParameterDetector(ParameterConfig(min_history=5))
        for i in range(50):
            d.observe("t", ["0x10", "10.0.0.1", "000123"], float(i))
        assert d.history["t"] == {}
        assert d.observe("t", ["0xffffffff", "99.99.99.99", "0999999"], 60.0) is None


class TestSequence:
    def test_skipped_step_fires_and_regular_cycle_does_not(self) -> None:
        """open -> auth -> query -> close repeats; a query without auth is out of sequence."""
        d = SequenceDetector(SequenceConfig(order=2, top_candidates=2, min_context=20, min_unusual=1))
        cycle = ["open", "auth", "query", "close"]
        assert all(d.observe(t, float(i)) is None for i, t in enumerate(cycle * 50))
        d.observe("open", 200.0)
        f = d.observe("query", 201.0, template="query <*>")
        assert f is not None and f.kind == "sequence" and f.score >= f.threshold
        assert "query <*>" in f.reason

    def test_one_unusual_step_is_not_enough_by_default(self) -> None:
        """Evidence accumulates: one odd transition is quiet, three in five lines fire."""
        d = SequenceDetector(SequenceConfig(order=1, top_candidates=1, min_context=10))
        for i, t in enumerate("ab" * 60):
            d.observe(t, float(i))
        assert d.observe("x", 120.0) is None  # one odd step...
        assert d.observe("a", 121.0) is None
        assert d.observe("y", 122.0) is None  # ...two...
        d.observe("a", 123.0)
        hit = d.observe("z", 124.0)  # ...three of the last five transitions: a broken path
        assert hit is not None and hit.values["unusual_recent"] == 3.0

    def test_judge_false_only_learns(self) -> None:
        d = SequenceDetector(SequenceConfig(order=1, top_candidates=1, min_context=5))
        for i in range(20):
            d.observe("a", float(i))
        assert d.observe("new", 21.0, judge=False) is None
        assert d.successors[("a",)]["new"] == 1


def test_scores_are_calibrated() -> None:
    """0.9 exactly at the threshold, rising towards 1, 0 for nothing."""
    assert abs(exceedance_score(4.0, 4.0) - 0.9) < 1e-12
    assert 0.9 < exceedance_score(6.0, 4.0) < exceedance_score(12.0, 4.0) < 1.0
    assert exceedance_score(0.0, 4.0) == 0.0


def test_robust_window_ignores_one_outlier() -> None:
    w = RobustWindow(100)
    for v in [10.0] * 51 + [11.0] * 48 + [1e9]:
        w.add(v)
    assert w.median() == 10.0 and w.robust_z(10.5) < 3 and w.robust_z(100.0) > 50


def test_detectors_pickle() -> None:
    """All detector state survives a pickle round-trip (it is snapshotted)."""
    for d in (
        RareTemplateDetector(RareTemplateConfig()),
        ErrorBurstDetector(ErrorBurstConfig()),
        TemplateFrequencyDetector(TemplateFrequencyConfig()),
        ParameterDetector(ParameterConfig()),
        SequenceDetector(SequenceConfig()),
    ):
        clone = pickle.loads(pickle.dumps(d))
        assert type(clone) is type(d)
