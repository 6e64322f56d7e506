"""Detection quality of the default configuration: quiet on clean series, loud on real faults."""

from __future__ import annotations

import random

import numpy as np

from aiops.detectors.calibration import calibrate_with_level, learn_tail, remember
from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine
from aiops.detectors.evaluation.quality import KINDS, format_report, inject, measure

HOSTS = [f"web-{i}" for i in range(5)]


class TestPipelineScenario:
    def test_spike_is_found_and_clean_series_stay_quiet(self):
        """5 hosts of N(50, 2) at 1 s, one 95.0 spike at point 350: it opens the only episode, a short one."""
        rng = random.Random(1)
        events = []
        for k in range(400):
            for host in HOSTS:
                value = 50.0 + rng.gauss(0.0, 2.0)
                if k == 350 and host == "web-2":
                    value = 95.0
                events.append(Event("metric", f"app|host={host}", {"host": host}, 1000.0 + k, {"latency_ms": value}))
        scores = build_engine(DetectionConfig()).process(events)
        alerts = [(s.series_id, s.time - 1000.0) for s in scores if s.alert]
        assert alerts == [("app|host=web-2", 350.0)]
        inside = [(s.series_id, s.time - 1000.0) for s in scores if s.is_anomaly]
        assert inside[0] == alerts[0] and all(sid == "app|host=web-2" and t < 360 for sid, t in inside)


class TestCleanSeries:
    def test_iid_gaussian_stays_under_one_alarm_in_ten_thousand(self):
        """9,000 points of unit noise (3 series) after their first 1,000: at most 1 flag."""
        engine = build_engine(DetectionConfig())
        rng = np.random.default_rng(5)
        items = [(f"g{i}", np.arange(4000, dtype=float), rng.normal(size=(4000, 1))) for i in range(3)]
        results = engine.score_many_series(items, ["v"])
        flags = sum(int(res.flagged[1000:].sum()) for _, res in results)
        assert flags <= 1

    def test_streamed_tail_is_calibrated_far_out(self):
        """On |N(0,1)| scores the streamed tail puts about 1e-3 of points above 0.999, not the ring's 2-5x more."""
        rng = np.random.default_rng(3)
        ring, seen, tail = np.zeros((1, 256), np.float32), np.zeros(1, np.int64), np.zeros((1, 3))
        above = 0
        raws = np.abs(rng.normal(size=11_000))
        for i, raw in enumerate(raws):
            p, level = calibrate_with_level(ring, seen, raw[None], min_history=20, tail=tail)
            above += int(i >= 3000 and p[0] >= 0.999)
            learn_tail(tail, raw[None], level, rate=0.005)
            remember(ring, seen, raw[None])
        assert 2 <= above <= 30  # 8 expected over 8,000 points


class TestFaults:
    def test_injections_are_where_they_say(self):
        """Each fault kind changes the series only from its start."""
        X = np.random.default_rng(0).normal(size=(300, 4))
        for kind in KINDS:
            Y = inject(X, kind, 200)
            assert np.array_equal(Y[:200], X[:200]) and not np.array_equal(Y[200:], X[200:])

    def test_report_finds_spikes_at_once(self):
        """A short quality run (10 series per fault): 6-sigma spikes found at once (the full run finds 85-90%),
        3-sigma shifts and correlation breaks found; the report prints every case."""
        report = measure(clean_points=1300, clean_series=1, fault_series=10, fault_points=1300, inject_at=1000,
                         settle=600)
        faults = {f.kind: f for f in report.faults}
        assert faults["spike"].found >= 7 and faults["spike"].median_delay == 0
        assert faults["level_shift"].found >= 8
        assert faults["correlation_break"].found >= 8
        text = format_report(report)
        for name in ("gaussian", "student_t3", "multivariate_4", "drift_5sd_100", "per 10k"):
            assert name in text
