"""Grouping by route labels, group_wait / group_interval / repeat_interval, and resolution."""

from __future__ import annotations

import pytest

from tests.alerting_policy.builders import anomaly, policy


class TestGroupTimers:
    def test_first_notification_waits_group_wait_and_gathers_the_group(self):
        """Alerts arriving within group_wait of the same host leave together, once."""
        p = policy()
        p.ingest(anomaly("web-1", metric="cpu"), now=0)
        p.ingest(anomaly("web-1", metric="mem"), now=5)
        assert p.tick(9.9) == []
        [note] = p.tick(10)
        assert note.group_labels == {"host": "web-1"}
        assert sorted(a.labels["series_id"] for a in note.alerts) == ["cpu|host=web-1", "mem|host=web-1"]
        assert p.tick(11) == []

    def test_other_host_is_another_group(self):
        """group_by host: different hosts are notified separately."""
        p = policy()
        p.ingest(anomaly("web-1"), now=0)
        p.ingest(anomaly("web-2"), now=0)
        notes = p.tick(10)
        assert sorted(n.group_labels["host"] for n in notes) == ["web-1", "web-2"]

    def test_new_alert_in_a_notified_group_waits_group_interval(self):
        """After the first flush, a change is sent at the next group_interval, not before."""
        p = policy()
        p.ingest(anomaly("web-1", metric="cpu"), now=0)
        assert len(p.tick(10)) == 1
        p.ingest(anomaly("web-1", metric="disk"), now=20)
        assert p.tick(69) == []
        [note] = p.tick(70)
        assert len(note.alerts) == 2

    def test_unchanged_group_is_repeated_after_repeat_interval(self):
        """Repeated anomalies do not re-notify until repeat_interval has passed."""
        p = policy()
        p.ingest(anomaly("web-1", time=0), now=0)
        assert len(p.tick(10)) == 1
        sent = []
        for t in range(20, 700, 20):
            p.ingest(anomaly("web-1", time=t), now=t)
            sent += p.tick(t)
        assert len(sent) == 1 and sent[0].sent_at >= 610

    def test_severity_escalation_is_a_change(self):
        """A warning that becomes critical is notified at the next interval with the new severity."""
        p = policy()
        p.ingest(anomaly("web-1", score=0.91, time=0), now=0)
        [first] = p.tick(10)
        assert first.alerts[0].severity == "warning"
        p.ingest(anomaly("web-1", score=0.999, time=30), now=30)
        [second] = p.tick(70)
        assert second.alerts[0].severity == "critical"


class TestResolve:
    def test_resolves_after_anomaly_silence(self):
        """With no anomaly for resolve_after_s the alert resolves and a resolved notification goes out."""
        p = policy()
        p.ingest(anomaly("web-1", time=0), now=0)
        p.tick(10)
        assert p.tick(100) == []          # group flushed at 100: next flush at 160
        assert p.tick(130) == []          # resolved now, told at the next group_interval
        [note] = p.tick(160)
        assert note.status == "resolved" and note.alerts[0].ends_at == 130
        assert p.tick(200) == [] and p.active_alerts() == []

    def test_resolves_from_observed_normal_points(self):
        """Normal points spanning resolve_after_s (event time) resolve before the silence timeout."""
        p = policy(policy={"resolve_after_s": 120, "resolve_after_silence_s": 10_000})
        a = anomaly("web-1", time=1000)
        p.ingest(a, now=0)
        p.tick(10)
        p.observe_normal(a.series_id, 1100)
        assert p.tick(70) == []
        p.observe_normal(a.series_id, 1120)
        [note] = p.tick(130)
        assert note.status == "resolved"

    def test_an_ended_episode_resolves_at_the_next_tick_saying_why(self):
        """The engine's episode end resolves the alert at once (no silence timeout), with the reason."""
        p = policy(policy={"resolve_after_s": 10_000, "resolve_after_silence_s": 10_000})
        a = anomaly("web-1", time=1000)
        p.ingest(a, now=0)
        [firing] = p.tick(10)
        p.end_episode(a.series_id, 1060, "accepted")
        assert p.tick(20) == [] and p.active_alerts() == []
        [note] = p.tick(70)
        assert note.status == "resolved" and "accepted" in note.alerts[0].annotations["ended"]

    def test_an_episode_that_ended_before_its_first_notification_still_pages_once(self):
        """A spike's episode may end within the group wait: the alert goes out firing, then resolved."""
        p = policy(policy={"resolve_after_s": 10_000, "resolve_after_silence_s": 10_000})
        a = anomaly("web-1", time=1000)
        p.ingest(a, now=0)
        p.end_episode(a.series_id, 1030, "returned")
        assert p.tick(5) == []
        [firing] = p.tick(10)
        assert firing.status == "firing"
        p.tick(11)
        [resolved] = p.tick(70)
        assert resolved.status == "resolved" and "baseline" in resolved.alerts[0].annotations["ended"]

    def test_an_anomaly_after_the_end_keeps_the_alert_firing(self):
        """An end older than the series' latest anomaly (records crossing) does not resolve it."""
        p = policy(policy={"resolve_after_s": 10_000, "resolve_after_silence_s": 10_000})
        a = anomaly("web-1", time=1000)
        p.ingest(a, now=0)
        p.end_episode(a.series_id, 990, "returned")
        p.ingest(anomaly("web-1", time=1100), now=5)
        p.end_episode(a.series_id, 1050, "returned")
        p.tick(10)
        assert len(p.active_alerts()) == 1

    def test_resolved_but_never_notified_sends_nothing(self):
        """An alert that resolves while muted leaves no resolved notification."""
        p = policy()
        p.silences.create(["host=web-1"], starts_at=0, ends_at=1000, created_by="t", now=0)
        p.ingest(anomaly("web-1", time=0), now=0)
        assert p.tick(10) == []
        assert p.tick(200) == []
        assert p.groups == {}

    def test_new_episode_after_resolve_is_a_new_firing(self):
        """Anomalies after resolution start a new firing alert with a new start."""
        p = policy()
        p.ingest(anomaly("web-1", time=0), now=0)
        p.tick(10)
        p.tick(130)
        p.ingest(anomaly("web-1", time=300), now=300)
        [note] = p.tick(310)
        assert note.status == "firing" and note.alerts[0].starts_at == 300


class TestAlertContent:
    def test_fingerprint_labels_and_annotations(self):
        """Stable fingerprint from identifying labels; templated links; observed vs expected."""
        p = policy(policy={"dashboard_url": "https://grafana/d/x?var-host={host}",
                           "runbook_url": "https://runbooks/{alertname}"})
        p.ingest(anomaly("web 1&x", time=0), now=0)
        p.ingest(anomaly("web 1&x", time=5), now=5)
        [note] = p.tick(10)
        [alert] = note.alerts
        assert alert.labels == {"alertname": "AnomalyDetected", "host": "web 1&x", "kind": "point",
                                "series_id": "cpu|host=web 1&x", "source": "metric"}
        assert len(alert.anomaly_ids) == 2
        assert alert.annotations["dashboard_url"] == "https://grafana/d/x?var-host=web%201%26x"
        assert alert.annotations["runbook_url"] == "https://runbooks/AnomalyDetected"
        assert "user=97 (expected 10..30)" in alert.annotations["description"]
        assert alert.annotations["feedback_false_positive_url"].startswith("http://127.0.0.1:6066/feedback/")

    def test_severity_from_calibrated_score(self):
        """Severity follows the configured score thresholds."""
        p = policy(policy={"resolve_after_s": 120, "critical_score": 0.99, "error_score": 0.9})
        for host, score in (("a", 0.5), ("b", 0.95), ("c", 0.995)):
            p.ingest(anomaly(host, score=score), now=0)
        notes = p.tick(10)
        severity = {n.group_labels["host"]: n.alerts[0].severity for n in notes}
        assert severity == {"a": "warning", "b": "error", "c": "critical"}


class TestDeliveryAndState:
    async def test_notifications_are_handed_to_delivery(self, recorder):
        """tick's notifications go to Delivery.submit; dedup keys differ between firing and resolved."""
        p = policy()
        p.ingest(anomaly("web-1", time=0), now=0)
        for t in (10, 130):
            for note in p.tick(t):
                await recorder.submit(note)
        assert [n.status for n in recorder.sent] == ["firing", "resolved"]
        assert recorder.sent[0].dedup_key != recorder.sent[1].dedup_key

    def test_export_import_keeps_timers_and_alerts(self):
        """A restored policy continues where the old one stopped."""
        p = policy()
        p.ingest(anomaly("web-1", time=0), now=0)
        p.tick(10)
        restored = policy()
        restored.import_state(p.export_state())
        assert restored.tick(60) == []
        [note] = restored.tick(130)
        assert note.status == "resolved"

    def test_bad_input_is_an_input_error(self):
        """Wrong types and out-of-range scores raise InputError, not a crash."""
        from aiops.detectors.core.errors import InputError

        p = policy()
        with pytest.raises(InputError):
            p.ingest({"series_id": "x"}, now=0)
        with pytest.raises(InputError):
            p.ingest(anomaly(score=1.5), now=0)
        with pytest.raises(InputError):
            p.import_state({"version": 99})


def test_observe_normal_after_restore_and_for_unknown_series():
    """Normal points find their alert after a state import; points of other series change nothing."""
    p = policy(policy={"resolve_after_s": 120, "resolve_after_silence_s": 10_000})
    a = anomaly("web-1", time=1000)
    p.ingest(a, now=0)
    p.tick(10)
    restored = policy(policy={"resolve_after_s": 120, "resolve_after_silence_s": 10_000})
    restored.import_state(p.export_state())
    restored.observe_normal("cpu|host=other", 5000)
    assert restored.tick(70) == []
    restored.observe_normal(a.series_id, 1120)
    [note] = restored.tick(130)
    assert note.status == "resolved"


class TestSurprise:
    def test_the_alert_says_how_rare_its_rarest_point_was(self):
        """The alert carries the highest anomaly_score of its anomalies, in words, not a detector's 1.000."""
        from dataclasses import replace

        from aiops.alerting.sinks.render import explanation

        p = policy()
        p.ingest(replace(anomaly("web-1", time=0), surprise=0.8), now=0)
        p.ingest(replace(anomaly("web-1", time=10), surprise=0.6), now=10)
        [note] = p.tick(10)
        [alert] = note.alerts
        assert alert.annotations["surprise"] == "0.800: a 1-in-10^8 point for this series"
        assert "anomaly score: 0.800: a 1-in-10^8 point for this series" in explanation(alert)

    def test_log_findings_carry_no_surprise(self):
        """An anomaly without a surprise (a log finding) adds no such line."""
        p = policy()
        p.ingest(anomaly("web-1", time=0), now=0)
        [note] = p.tick(10)
        assert "surprise" not in note.alerts[0].annotations
