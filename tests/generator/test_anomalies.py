"""Injected incidents: the ground truth says exactly where the traffic was changed, and nowhere else."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import pytest
from pydantic import ValidationError

from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.tools.generator.anomalies import (
    ALL_KINDS,
    ATTACK_KINDS,
    METRIC_KINDS,
    AnomalySchedule,
    make_metric_injection,
)
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.fleet import SeriesKey
from aiops.pipeline.tools.generator.produce import TrafficGenerator

START = 1_700_000_000.0
LIVE_TICKS = 450
BASE = dict(seed=21, hosts=2, warmup_s=20.0, gap_s=10.0, period_s=600.0, log_format="json")


def _decode(wire, config: GeneratorConfig):
    """Run live traffic; return the generator, metric points by series and time, and log records."""
    gen = TrafficGenerator(config)
    points: dict[str, dict[float, dict[str, float]]] = defaultdict(dict)
    logs: list[dict] = []
    for due, batch in itertools.islice(gen.live(START), LIVE_TICKS):
        last = due
        for topic, _, value in batch:
            _, records = wire(topic, value)
            if topic == "metrics.raw":
                for p in records:
                    points[series_id_for(p["name"], p["tags"])][round(p["time"], 6)] = p["fields"]
            else:
                logs += records
    gen.finish(last)
    return gen, points, logs


@pytest.fixture(scope="module")
def injected(wire):
    return _decode(wire, GeneratorConfig(anomaly_rate=15.0, **BASE))


@pytest.fixture(scope="module")
def clean(wire):
    return _decode(wire, GeneratorConfig(anomaly_rate=0.0, **BASE))


def _inside(record, t: float) -> bool:
    return record["start"] <= t <= record["end"]


class TestSchedule:
    def test_all_kinds_are_injected(self, injected):
        """Over seven and a half minutes at this rate every kind shows up."""
        gen = injected[0]
        assert {r["kind"] for r in gen.truth} == set(ALL_KINDS)

    def test_nothing_before_warmup(self, injected):
        """No incident starts in the first warmup_s seconds of live traffic."""
        assert min(r["start"] for r in injected[0].truth) >= START + BASE["warmup_s"]

    def test_no_overlap_on_one_series(self, injected):
        """Incidents on one series never overlap and are at least gap_s apart."""
        by_series = defaultdict(list)
        for r in injected[0].truth:
            by_series[r["series_id"]].append(r)
        for records in by_series.values():
            records.sort(key=lambda r: r["start"])
            for a, b in zip(records, records[1:]):
                assert b["start"] > a["end"] + BASE["gap_s"]

    def test_disabled_kinds_never_appear(self):
        """With attacks off and only spikes and drifts asked for, nothing else is injected."""
        gen = TrafficGenerator(GeneratorConfig(kinds=["spike", "drift", "brute_force"], attacks=False, hosts=2, log_rate=0.5,
                                               anomaly_rate=30.0, warmup_s=0.0, seed=3))
        for _ in itertools.islice(gen.live(START), 300):
            pass
        assert gen.truth and {r["kind"] for r in gen.truth} <= {"spike", "drift"}

    def test_unknown_kind_is_a_config_error(self):
        """A misspelt kind is refused, naming it."""
        with pytest.raises(ValidationError, match="spikes"):
            GeneratorConfig(kinds=["spikes"])

    def test_rate_sets_the_number_of_incidents(self):
        """The incident count follows anomaly_rate (per minute, whole fleet) within Poisson noise."""
        schedule = AnomalySchedule(series=[SeriesKey(f"n{i}", "api") for i in range(40)], hosts=["n0"],
                                   rate_per_min=6.0, warmup_s=0.0, interval_s=1.0, seed=1,
                                   weights={"spike": 1.0}, gap_s=0.0)
        schedule.begin(0.0)
        started = sum(len(schedule.step(float(t))) for t in range(3600))
        assert 300 < started < 420  # expected 360


class TestMetricTruth:
    def test_values_change_only_inside_truth_windows(self, injected, clean):
        """Affected features differ from the clean run inside each window; everything else is identical."""
        gen, points, _ = injected
        _, clean_points, _ = clean
        metric_truth = [r for r in gen.truth if r["kind"] in METRIC_KINDS]
        assert {r["kind"] for r in metric_truth} == set(METRIC_KINDS)
        for series_id, by_time in points.items():
            windows = [r for r in metric_truth if r["series_id"] == series_id]
            for t, fields in by_time.items():
                active = [r for r in windows if _inside(r, t)]
                affected = set(active[0]["features"]) if active else set()
                for feature, value in fields.items():
                    if feature not in affected:
                        assert value == clean_points[series_id][t][feature], (series_id, t, feature)

    def test_every_point_of_a_window_is_changed(self, injected, clean):
        """Spikes, shifts and drifts move every affected point; variance changes move most of them."""
        gen, points, _ = injected
        for r in (r for r in gen.truth if r["kind"] in METRIC_KINDS):
            times = [t for t in points[r["series_id"]] if _inside(r, t)]
            assert times and min(times) == r["start"] and max(times) == r["end"]
            for feature in r["features"]:
                changed = [points[r["series_id"]][t][feature] != clean[1][r["series_id"]][t][feature]
                           for t in times]
                if r["kind"] == "variance_change":
                    assert sum(changed) >= 0.9 * len(changed)
                else:
                    assert all(changed), (r["id"], feature)

    def test_spike_goes_the_way_the_truth_says(self, injected, clean):
        """An additive spike raises the feature by about the recorded amount (unless clipped at its limit)."""
        gen, points, _ = injected
        spikes = [r for r in gen.truth if r["kind"] == "spike"]
        assert spikes
        for r in spikes:
            for feature, effect in r["params"]["effects"].items():
                for t in (t for t in points[r["series_id"]] if _inside(r, t)):
                    got = points[r["series_id"]][t][feature]
                    base = clean[1][r["series_id"]][t][feature]
                    if effect["op"] == "add":
                        assert got == pytest.approx(min(base + effect["value"], 100.0), abs=0.02)
                    else:
                        assert got > base * (effect["value"] - 0.1)


class TestLogTruth:
    def test_error_burst_lines_match_truth(self, injected, clean):
        """Extra error lines of the series appear only inside the burst window, as many as recorded."""
        gen, _, logs = injected
        _, _, clean_logs = clean
        bursts = [r for r in gen.truth if r["kind"] == "log_error_burst"]
        assert bursts

        def errors(records, host, service):
            return sorted(r["time"] for r in records
                          if r["host"] == host and r["service"] == service and r["level"] == "error")

        for r in bursts:
            host, service = r["labels"]["host"], r["labels"]["service"]
            extra = list(errors(logs, host, service))
            for t in errors(clean_logs, host, service):
                extra.remove(t)
            ours = [t for t in extra if r["start"] - 1 <= t <= r["end"]]
            assert len(ours) == r["params"]["lines"]
            others = [b for b in bursts if b["labels"] == r["labels"]]
            assert all(any(b["start"] - 1 <= t <= b["end"] for b in others) for t in extra)

    def test_attacks_match_truth(self, injected):
        """Each attack's failed passwords come from its IP, inside its window, as many as recorded."""
        gen, _, logs = injected
        attacks = [r for r in gen.truth if r["kind"] in ATTACK_KINDS]
        assert {r["kind"] for r in attacks} == set(ATTACK_KINDS)
        for r in attacks:
            ip = r["params"]["ip"]
            mine = [x for x in logs if x["service"] == "sshd" and f"from {ip} port" in x["message"]]
            assert all(x["host"] == r["labels"]["host"] for x in mine)
            assert all(r["start"] - 1 <= x["time"] <= r["end"] for x in mine)
            failed = [x for x in mine if x["message"].startswith("Failed password")]
            accepted = [x for x in mine if x["message"].startswith("Accepted password")]
            if r["kind"] == "brute_force":
                user = r["params"]["user"]
                assert all(f"for {user} from" in x["message"] for x in failed)
                assert len(accepted) == (1 if r["params"]["succeeded"] else 0)
                assert len(failed) + len(accepted) == r["params"]["attempts"]
            else:
                users = {x["message"].split("invalid user ")[1].split(" ")[0] for x in failed}
                assert users == set(r["params"]["users"]) and not accepted
                assert len(failed) == r["params"]["attempts"]

    def test_clean_run_has_no_attack_traffic(self, clean):
        """Without incidents, sshd failures are rare and come from the office range or lone probes."""
        _, _, logs = clean
        failed = [x for x in logs if x["service"] == "sshd" and "Failed password" in x["message"]]
        assert all(" from 10.20." in x["message"] for x in failed)
        assert len(failed) < 30


class TestOddIntervals:
    def test_window_edges_hold_with_a_tenth_of_a_second(self):
        """With 0.1 s ticks, a window's last tick is inside it although the sums differ in the last bit."""
        live_start, step = 1_700_000_000.3, 0.1
        cases = [(k, n) for k in range(0, 300, 7) for n in range(1, 200, 13)
                 if (live_start + k * step) + step * n < live_start + (k + n) * step]
        assert cases  # the float sums really do disagree for some windows
        for k, n in cases:
            start = live_start + k * step
            injection = make_metric_injection("x", "level_shift", SeriesKey("h", "api"), start,
                                              interval_s=step, rng=random.Random(k))
            injection.end = start + step * n
            assert injection.active(live_start + k * step) and injection.active(live_start + (k + n) * step)
            assert not injection.active(live_start + (k + n + 1) * step)
