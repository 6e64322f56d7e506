"""The worker's /metrics: valid Prometheus text with HELP and TYPE, one registry per worker."""

from __future__ import annotations

import pytest

from aiops.alerting.config import AlertingConfig
from aiops.pipeline.app import Worker
from aiops.pipeline.config import Settings
from aiops.pipeline.runner import worker_with_alerting
from tests.support.promtool import promtool_check, samples

RECEIVERS = {"route": {"receiver": "ops"},
             "receivers": [{"name": "ops", "sinks": [{"type": "console"}]}]}


@pytest.fixture
def worker():
    settings = Settings(alerting=AlertingConfig.model_validate(RECEIVERS))
    return worker_with_alerting(settings)[0]


class TestExposition:
    def test_promtool_accepts_it_with_every_family_in_use(self, worker):
        """Labelled counters, gauges, the histogram and the sink families all pass `promtool check metrics`."""
        m = worker.metrics
        m.messages_in("metrics.raw", 4)
        m.events_in("metrics.raw", 40)
        m.records_out("events", 2)
        m.dead_letter("normalise")
        m.series_tracked.set(7)
        m.observe_latency([0.003, 0.08, 0.08, 12.0])
        worker.stats.state_records_rejected = 2
        text = m.render()
        verdict = promtool_check(text)
        assert verdict.returncode == 0 and not verdict.stdout and not verdict.stderr, verdict
        for line in text.decode().splitlines():
            if not line.startswith("#"):
                name = line.split("{")[0].split(" ")[0]
                base = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
                assert f"# HELP {base} " in text.decode() and f"# TYPE {base} " in text.decode(), name

    def test_figures_are_the_worker_counts(self, worker):
        """What /healthz counts is what /metrics says, under names with their unit or _total."""
        m = worker.metrics
        m.messages_in("logs.raw", 3)
        m.dead_letter("score")
        m.dead_letter("score")
        m.observe_latency([0.003, 0.08, 0.08, 12.0])
        worker.stats.state_records_rejected = 2
        worker.stats.points_scored = 11
        got = samples(m.render())
        assert got[("aiops_state_records_rejected_total", ())] == 2
        assert got[("aiops_points_scored_total", ())] == 11
        assert got[("aiops_messages_in_total", (("topic", "logs.raw"),))] == 3
        assert got[("aiops_dead_letters_total", (("stage", "score"),))] == 2
        assert got[("aiops_ingest_to_score_latency_seconds_bucket", (("le", "0.1"),))] == 3
        assert got[("aiops_ingest_to_score_latency_seconds_bucket", (("le", "+Inf"),))] == 4
        assert got[("aiops_ingest_to_score_latency_seconds_sum", ())] == pytest.approx(12.163)
        assert got[("aiops_sink_deliveries_total", (("outcome", "sent"), ("sink", "ops.console")))] == 0
        assert got[("aiops_sink_breaker_state", (("sink", "ops.console"), ("state", "closed")))] == 1
        assert got[("aiops_anomalies_received_total", ())] == 0

    def test_the_old_hand_written_form_is_what_promtool_refused(self):
        """The check can fail: a label set before `_total`, as /metrics used to print, is rejected."""
        verdict = promtool_check(b'# TYPE aiops_sink_sent counter\naiops_sink_sent{sink="x"}_total 1\n')
        assert verdict.returncode != 0

    def test_two_workers_count_apart(self):
        """Each worker has its own registry: several in one process neither clash nor add up."""
        a, b = Worker(Settings()), Worker(Settings())
        a.metrics.messages_in("metrics.raw", 5)
        assert samples(a.metrics.render())[("aiops_messages_in_total", (("topic", "metrics.raw"),))] == 5
        assert ("aiops_messages_in_total", (("topic", "metrics.raw"),)) not in samples(b.metrics.render())
