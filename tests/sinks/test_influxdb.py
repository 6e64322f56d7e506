"""The InfluxDB sink against a real VictoriaMetrics (it accepts influxdb-client's /api/v2/write)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from aiops.alerting.sinks.influxdb import InfluxdbSink, InfluxdbSinkConfig
from aiops.detectors.core.errors import RetryableDeliveryError
from aiops.detectors.core.shapes import Score

pytestmark = pytest.mark.integration


def _export(url: str, selector: str) -> list[dict]:
    urllib.request.urlopen(urllib.request.Request(f"{url}/internal/force_flush", method="GET"), timeout=5).read()
    query = urllib.parse.urlencode({"match[]": selector, "start": "0"})
    with urllib.request.urlopen(f"{url}/api/v1/export?{query}", timeout=5) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


class TestInfluxdbSink:
    async def test_alert_points_are_written_with_tags_and_fields(self, victoria_metrics, new_alert,
                                                                 new_notification):
        """Each alert becomes aiops_alert_* series carrying its labels and state as tags."""
        sink = InfluxdbSink(InfluxdbSinkConfig(url=victoria_metrics.url, token="t0ken"))
        alerts = [new_alert(10, case="influx"), new_alert(11, status="resolved", case="influx")]
        now = float(int(time.time()))  # inside the TSDB's retention
        for alert in alerts:
            alert.updated_at = now
        try:
            await sink.send(new_notification(10, alerts=alerts))
        finally:
            await sink.close()
        rows = _export(victoria_metrics.url, '{__name__=~"aiops_alert.*",case="influx"}')
        by_name = {(r["metric"]["__name__"], r["metric"]["host"]): r for r in rows}
        firing = by_name[("aiops_alert_firing", "web-10")]
        assert firing["values"] == [1]
        assert firing["timestamps"] == [int(now * 1000)]
        assert firing["metric"]["status"] == "firing"
        assert firing["metric"]["fingerprint"] == alerts[0].fingerprint
        assert firing["metric"]["receiver"] == "sre"
        assert firing["metric"]["severity"] == "error"
        resolved = by_name[("aiops_alert_firing", "web-11")]
        assert resolved["values"] == [0] and resolved["metric"]["status"] == "resolved"
        assert by_name[("aiops_alert_score", "web-10")]["values"] == [0.97]

    async def test_write_scores_writes_score_points(self, victoria_metrics):
        """write_scores stores one aiops_score point per score, per series."""
        sink = InfluxdbSink(InfluxdbSinkConfig(url=victoria_metrics.url))
        now = float(int(time.time())) - 60
        scores = [Score(series_id="mem|host=db-1", time=now + t, score=0.1 * t, threshold=0.9,
                        is_anomaly=t == 9, detectors={"hst": 0.05 * t}) for t in range(10)]
        try:
            await sink.write_scores(scores)
        finally:
            await sink.close()
        rows = _export(victoria_metrics.url, '{__name__=~"aiops_score.*",series="mem|host=db-1"}')
        by_name = {r["metric"]["__name__"]: r for r in rows}
        assert by_name["aiops_score_score"]["values"] == pytest.approx([0.1 * t for t in range(10)])
        assert by_name["aiops_score_anomaly"]["values"] == [0] * 9 + [1]
        assert by_name["aiops_score_detector_hst"]["values"] == pytest.approx([0.05 * t for t in range(10)])

    async def test_unreachable_server_is_retryable(self, unused_port, new_notification):
        """A refused connection is a retryable error, not a crash."""
        sink = InfluxdbSink(InfluxdbSinkConfig(url=f"http://127.0.0.1:{unused_port}", timeout_s=2))
        try:
            with pytest.raises(RetryableDeliveryError):
                await sink.send(new_notification(12))
        finally:
            await sink.close()
