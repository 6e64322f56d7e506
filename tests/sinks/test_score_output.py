"""The worker's score output: its line protocol against influxdb-client's, its writes against a real VictoriaMetrics."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from aiops.alerting.sinks.influx_lines import batch_lines, point_lines
from aiops.detectors.core.shapes import Event, Score
from aiops.pipeline.config import Settings
from aiops.pipeline.score_writer import ScoreOutputSettings, ScoreWriter, score_writer_for
from aiops.pipeline.stages import ScoreStage
from tests.support.promtool import promtool_check, samples


def _event(t: float, host: str = "db-1", **features: float) -> Event:
    labels = {"host": host, "service": "db", "pod": "p-7"}
    return Event("metric", f"mem|host={host},pod=p-7,service=db", labels, t, features or {"used": 42.5})


def _reference(measurement: str, tags: dict[str, str], fields: dict, ns: int) -> str:
    from influxdb_client import Point, WritePrecision

    point = Point(measurement)
    for key, value in tags.items():
        point = point.tag(key, value)
    for key, value in fields.items():
        point = point.field(key, value)
    return point.time(ns, WritePrecision.NS).to_line_protocol()


class TestLines:
    def test_lines_are_what_influxdb_client_writes(self):
        """Escaping, number formats and sorting equal influxdb-client's Point, for awkward names and values."""
        labels = {"host": "web 1,a=b", "service": "api\\", "zone": "ignored"}
        series = "cpu|host=web 1,a=b,service=api\\"
        event = Event("metric", series, labels, 1_700_000_000.25, {"user time": 97.0, "sys": 0.125, "bad": math.nan})
        score = Score(series, event.time, 0.99, 0.9, True, detectors={"zscore": 1.0, "hst": 0.5},
                      anomaly_score=0.75, alert=True, episode=2)
        ns = 1_700_000_000_250_000_000
        tags = {"host": "web 1,a=b", "service": "api\\", "series": series}
        expected = [
            _reference("aiops_value", {**tags, "feature": "sys"}, {"value": 0.125}, ns),
            _reference("aiops_value", {**tags, "feature": "user time"}, {"value": 97.0}, ns),
            _reference("aiops_score", tags, {"anomaly_score": 0.75, "score": 0.99, "threshold": 0.9, "is_anomaly": 1,
                                             "alert": 1, "episode": 2, "detector_zscore": 1.0, "detector_hst": 0.5},
                       ns),
            _reference("aiops_episode", {**tags, "event": "open"}, {"anomaly_score": 0.75, "episode": 2}, ns),
        ]
        assert list(point_lines(event, score)) == expected

    def test_an_ended_episode_is_a_line_with_its_reason_and_detectors_can_be_left_out(self):
        event = _event(10.0)
        score = Score(event.series_id, 10.0, 0.1, 0.9, False, detectors={"hst": 0.1}, episode=1, ended="returned")
        lines = list(point_lines(event, score, detectors=False))
        assert lines[-1] == _reference("aiops_episode", {"event": "end", "reason": "returned", "host": "db-1",
                                                          "service": "db", "series": event.series_id},
                                       {"anomaly_score": 0.0, "episode": 1}, 10_000_000_000)
        assert not any("detector_" in line for line in lines)
        assert all("pod=" not in line.split(" ")[0].replace("series=" + event.series_id, "") for line in lines), \
            "labels other than host and service stay out of the tags"

    def test_a_point_without_any_finite_value_writes_no_value_line(self):
        event = _event(1.0, used=math.inf)
        score = Score(event.series_id, 1.0, 0.2, 0.9, False)
        assert [line.split(",")[0] for line in batch_lines([(event, score)])] == ["aiops_score"]


class TestBuffer:
    def test_the_buffer_is_bounded_and_counts_what_it_drops(self):
        writer = ScoreWriter(ScoreOutputSettings(enabled=True, max_buffer=3))
        writer.offer([1, 2], ["a", "b"])
        writer.offer([3, 4, 5], ["c", "d", "e"])
        assert writer.buffered == 3 and writer.dropped["buffer_full"] == 2
        assert writer.take() == [(1, "a"), (2, "b"), (3, "c")]
        assert writer.buffered == 0

    def test_the_score_stage_hands_every_scored_point_to_the_writer(self):
        settings = Settings()
        writer = ScoreWriter(ScoreOutputSettings(enabled=True))
        stage = ScoreStage(settings, on_scored=writer.offer)
        events = [_event(1_700_000_000.0 + t, used=40.0 + t % 3) for t in range(20)]
        stage.process(events, now=1_700_000_100.0)
        taken = writer.take()
        assert [e for e, _ in taken] == events
        assert all(s.series_id == e.series_id and s.time == e.time for e, s in taken)

    def test_disabled_output_has_no_writer(self):
        assert score_writer_for(ScoreOutputSettings()) is None

    def test_counters_are_served_and_valid_for_promtool(self):
        registry = CollectorRegistry()
        writer = score_writer_for(ScoreOutputSettings(enabled=True, max_buffer=1), registry)
        writer.offer([1, 2], ["a", "b"])
        text = generate_latest(registry)
        verdict = promtool_check(text)
        assert verdict.returncode == 0 and not verdict.stdout and not verdict.stderr, verdict
        got = samples(text)
        assert got[("aiops_score_output_dropped_total", (("reason", "buffer_full"),))] == 1
        assert got[("aiops_score_output_dropped_total", (("reason", "write_failed"),))] == 0
        assert got[("aiops_score_output_buffered", ())] == 1
        assert got[("aiops_score_output_written_total", ())] == 0


def _export(url: str, selector: str) -> list[dict]:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=5).read()
    query = urllib.parse.urlencode({"match[]": selector, "start": "0"})
    with urllib.request.urlopen(f"{url}/api/v1/export?{query}", timeout=5) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


@pytest.mark.integration
class TestWrites:
    async def test_values_scores_and_episodes_reach_the_server(self, victoria_metrics):
        """A flush writes every point in batches; VictoriaMetrics stores them as measurement_field{tags}."""
        writer = ScoreWriter(ScoreOutputSettings(enabled=True, url=victoria_metrics.url, token="t0ken",
                                                 batch_points=4))
        start = float(int(time.time())) - 60
        host = f"vm-{int(start)}"
        events = [_event(start + t, host=host, used=40.0 + t, free=60.0 - t) for t in range(10)]
        scores = [Score(e.series_id, e.time, 0.1, 0.9, t in (5, 6), detectors={"hst": 0.01 * t},
                        anomaly_score=0.8 if t == 5 else 0.1, alert=t == 5, episode=1 if t in (5, 6, 7) else 0,
                        ended="returned" if t == 7 else "") for t, e in enumerate(events)]
        writer.offer(events, scores)
        try:
            assert await writer.flush()
        finally:
            await writer.close()
        assert writer.written == 10 and writer.dropped == {"buffer_full": 0, "write_failed": 0}
        rows = _export(victoria_metrics.url, f'{{__name__=~"aiops_.*",host="{host}"}}')
        by = {(r["metric"]["__name__"], r["metric"].get("feature"), r["metric"].get("event")): r for r in rows}
        used = by[("aiops_value_value", "used", None)]
        assert used["values"] == [40.0 + t for t in range(10)]
        assert used["timestamps"] == [int((start + t) * 1000) for t in range(10)]
        assert used["metric"]["series"] == events[0].series_id and used["metric"]["service"] == "db"
        assert by[("aiops_value_value", "free", None)]["values"] == [60.0 - t for t in range(10)]
        assert by[("aiops_score_is_anomaly", None, None)]["values"] == [0] * 5 + [1, 1] + [0] * 3
        assert by[("aiops_score_alert", None, None)]["values"] == [0] * 5 + [1] + [0] * 4
        assert by[("aiops_score_detector_hst", None, None)]["values"] == pytest.approx([0.01 * t for t in range(10)])
        opened = by[("aiops_episode_episode", None, "open")]
        assert opened["values"] == [1] and opened["timestamps"] == [int((start + 5) * 1000)]
        ended = by[("aiops_episode_episode", None, "end")]
        assert ended["timestamps"] == [int((start + 7) * 1000)] and ended["metric"]["reason"] == "returned"

    async def test_a_server_that_is_down_costs_dropped_points_not_memory(self, unused_port):
        """Writes to nothing fail, are counted as dropped, and leave the buffer empty; offering never waits."""
        writer = ScoreWriter(ScoreOutputSettings(enabled=True, url=f"http://127.0.0.1:{unused_port}",
                                                 timeout_s=2, max_buffer=50, batch_points=10))
        events = [_event(1_700_000_000.0 + t) for t in range(30)]
        writer.offer(events, [Score(e.series_id, e.time, 0.1, 0.9, False) for e in events])
        try:
            assert not await writer.flush()
            assert writer.dropped["write_failed"] == 30 and writer.written == 0 and writer.buffered == 0
            writer.offer(events * 2, [Score(e.series_id, e.time, 0.1, 0.9, False) for e in events * 2])
            assert writer.buffered == 50 and writer.dropped["buffer_full"] == 10
        finally:
            await writer.close()
        assert writer.dropped["write_failed"] == 80
