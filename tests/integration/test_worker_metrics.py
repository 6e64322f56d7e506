"""A real worker's /metrics, scraped with a read token, passes `promtool check metrics` and agrees with /healthz."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from tests.integration.test_pipeline_e2e import history_batches
from tests.integration.test_worker_alerting import alerting_config, receiver  # noqa: F401 - the fixture
from tests.support.api_tokens import auth
from tests.support.promtool import promtool_check, samples

pytestmark = pytest.mark.integration


def scrape(port: int, headers: dict[str, str]) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read()


def test_scraped_metrics_are_valid_and_count_what_the_worker_did(broker, workers, receiver):  # noqa: F811
    cfg = workers.config({"alerting": alerting_config(receiver)})
    worker = workers.start(cfg)
    history = history_batches(time.time() - 400, 380, spike_at=350)
    broker.produce(cfg["topics"]["metrics"], [*history, b"{not json"])
    receiver.wait_for(lambda n: True)
    stats = worker.wait_for(lambda s: s["points_scored"] >= s["events_in"] > 0 and s["dead_letters"] >= 1
                            and s["messages_in"] == len(history) + 1)

    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(worker.port, {})
    assert refused.value.code == 401
    text = scrape(worker.port, auth("sre"))
    verdict = promtool_check(text)
    assert verdict.returncode == 0 and not verdict.stdout and not verdict.stderr, verdict

    got = samples(text)
    raw = (("topic", cfg["topics"]["metrics"]),)
    assert got[("aiops_messages_in_total", raw)] == stats["messages_in"]
    assert got[("aiops_events_in_total", raw)] == stats["events_in"]
    assert got[("aiops_dead_letters_total", (("stage", "normalise"),))] == stats["dead_letters"] == 1
    assert got[("aiops_ingest_rejected_total", (("reason", "parse"),))] == 1
    assert got[("aiops_points_scored_total", ())] == stats["points_scored"]
    assert got[("aiops_state_records_rejected_total", ())] == stats["state_records_rejected"]
    events_out = got[("aiops_records_out_total", (("topic", cfg["topics"]["events"]),))]
    assert events_out >= 1 and got[("aiops_messages_in_total", (("topic", cfg["topics"]["events"]),))] == events_out
    assert got[("aiops_records_out_total", (("topic", cfg["topics"]["anomalies"]),))] >= stats["anomalies"] >= 1
    assert got[("aiops_ingest_to_score_latency_seconds_count", ())] == stats["points_scored"]
    assert 0 < got[("aiops_ingest_to_score_latency_seconds_sum", ())] < 60 * stats["points_scored"]
    assert got[("aiops_series_tracked", ())] >= 1
    assert got[("aiops_sink_deliveries_total", (("outcome", "sent"), ("sink", "hook.webhook")))] >= 1
    # per detector: flagged points never exceed the points scored, an episode opened on a flag of at least one
    flagged = {k[1][0][1]: v for k, v in got.items() if k[0] == "aiops_detector_flagged_points_total"}
    opened = {k[1][0][1]: v for k, v in got.items() if k[0] == "aiops_detector_episodes_opened_total"}
    means = {k[1][0][1]: v for k, v in got.items() if k[0] == "aiops_detector_score_mean"}
    assert flagged and set(flagged) == set(opened) == set(means)
    assert all(0 <= v <= stats["points_scored"] for v in flagged.values())
    assert all(opened[d] <= flagged[d] for d in flagged) and max(opened.values()) >= 1
    assert all(0.0 <= v <= 1.0 for v in means.values())
    assert got[("aiops_ingest_to_alert_latency_seconds_count", ())] >= 1
    assert got[("aiops_state_written_bytes_total", ())] > 0
    assert got[("aiops_restore_partitions_pending", ())] == 0
