"""Inhibition, maintenance windows (mute and do not learn) and flap holding."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from aiops.alerting.config import MaintenanceWindowConfig
from aiops.alerting.maintenance import MaintenanceCalendar
from tests.alerting_policy.builders import anomaly, policy

HOST_DOWN = [{"source_matchers": ["kind=host_down"], "target_matchers": ["kind!=host_down"], "equal": ["host"]}]


def ts(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


class TestInhibition:
    def test_host_down_mutes_that_hosts_other_alerts(self):
        """A host_down alert mutes web-1's other alerts, not web-2's, and not itself."""
        p = policy(inhibit_rules=HOST_DOWN)
        p.ingest(anomaly("web-1", kind="host_down", metric="up"), now=0)
        p.ingest(anomaly("web-1", metric="cpu"), now=0)
        p.ingest(anomaly("web-2", metric="cpu"), now=0)
        notes = p.tick(10)
        sent = sorted((n.group_labels["host"], a.labels["kind"]) for n in notes for a in n.alerts)
        assert sent == [("web-1", "host_down"), ("web-2", "point")]

    def test_inhibition_ends_when_the_source_resolves(self):
        """Once the host_down alert resolves, the still-firing target is notified."""
        p = policy(inhibit_rules=HOST_DOWN, policy={"resolve_after_s": 50})
        p.ingest(anomaly("web-1", kind="host_down", metric="up", time=0), now=0)
        p.ingest(anomaly("web-1", metric="cpu", time=0), now=0)
        p.tick(10)
        for t in (30, 60, 70):
            p.ingest(anomaly("web-1", metric="cpu", time=t), now=t)
        notes = p.tick(70)
        by_kind = {a.labels["kind"]: a.status for n in notes for a in n.alerts}
        assert by_kind == {"host_down": "resolved", "point": "firing"}

    def test_critical_mutes_same_host_warnings(self):
        """A severity-based rule: critical on a host mutes warnings on it."""
        p = policy(inhibit_rules=[{"source_matchers": ["severity=critical"],
                                   "target_matchers": ["severity=warning"], "equal": ["host"]}])
        p.ingest(anomaly("web-1", metric="cpu", score=0.999), now=0)
        p.ingest(anomaly("web-1", metric="mem", score=0.91), now=0)
        [note] = p.tick(10)
        assert [a.severity for a in note.alerts] == ["critical"]


WINDOW = {"name": "patch", "matchers": ["host=~db-.*"], "days": ["sat"], "start": "02:00",
          "duration": "2h", "tz": "Europe/Paris"}


class TestMaintenance:
    def test_window_in_its_time_zone(self):
        """Saturday 02:00-04:00 Paris time, for db hosts only."""
        cal = MaintenanceCalendar([MaintenanceWindowConfig.model_validate(WINDOW)])
        inside, after = ts("2026-11-21T03:59", "Europe/Paris"), ts("2026-11-21T04:00", "Europe/Paris")
        assert cal.should_learn({"host": "db-1"}, inside) is False
        assert cal.muted_by({"host": "db-1"}, inside) == ["patch"]
        assert cal.should_learn({"host": "db-1"}, after) is True
        assert cal.should_learn({"host": "web-1"}, inside) is True
        assert cal.should_learn({"host": "db-1"}, ts("2026-11-21T03:30", "UTC")) is True   # 04:30 in Paris
        assert cal.should_learn({"host": "db-1"}, ts("2026-11-21T01:30", "UTC")) is False  # 02:30 in Paris

    def test_window_across_midnight_and_cron(self):
        """A cron window starting Sunday 23:00 for 3h still covers Monday 01:00."""
        cal = MaintenanceCalendar([MaintenanceWindowConfig(name="n", cron="0 23 * * 0", duration="3h")])
        assert cal.should_learn({}, ts("2026-11-23T01:00")) is False   # Monday
        assert cal.should_learn({}, ts("2026-11-23T02:00")) is True
        assert cal.should_learn({}, ts("2026-11-22T22:59")) is True

    def test_mute_only_window_still_learns(self):
        """pause_learning: false mutes alerts but lets detectors learn."""
        cfg = MaintenanceWindowConfig.model_validate({**WINDOW, "pause_learning": False})
        cal = MaintenanceCalendar([cfg])
        t = ts("2026-11-21T03:00", "Europe/Paris")
        assert cal.muted_by({"host": "db-1"}, t) == ["patch"] and cal.should_learn({"host": "db-1"}, t)

    def test_policy_mutes_alerts_and_says_do_not_learn(self):
        """During the window the db alert is not sent and the worker is told not to learn."""
        p = policy(maintenance=[WINDOW])
        t = ts("2026-11-21T02:30", "Europe/Paris")
        p.ingest(anomaly("db-1", time=t), now=t)
        p.ingest(anomaly("web-1", time=t), now=t)
        assert [n.group_labels["host"] for n in p.tick(t + 10)] == ["web-1"]
        assert p.should_learn({"host": "db-1"}, t) is False
        view = {a["labels"]["host"]: a["muted"] for a in p.alerts(t + 10)}
        assert view == {"db-1": {"maintenance": ["patch"]}, "web-1": {}}

    @pytest.mark.parametrize("bad", [
        {"name": "x", "days": ["sat"], "start": "25:00", "duration": "1h"},
        {"name": "x", "days": ["sat"], "start": "02:00", "duration": "9d"},
        {"name": "x", "days": ["sat"], "start": "02:00", "duration": "1h", "tz": "Mars/Olympus"},
        {"name": "x", "cron": "0 2 1 * *", "duration": "1h"},
        {"name": "x", "duration": "1h"},
    ])
    def test_bad_windows_are_config_errors(self, bad):
        with pytest.raises(ValidationError):
            MaintenanceWindowConfig.model_validate(bad)


class TestFlapping:
    def test_flapping_alert_is_held_firing_with_a_note(self):
        """After max_changes state changes in the window, the alert stays firing instead of resolving."""
        p = policy(policy={"resolve_after_s": 20, "flapping": {"max_changes": 3, "window_s": 1000}},
                   route={"group_wait_s": 0, "group_interval_s": 1})
        statuses = []
        t = 0
        for _ in range(4):
            p.ingest(anomaly("web-1", time=t), now=t)
            statuses += [n.status for n in p.tick(t + 1)]
            statuses += [n.status for n in p.tick(t + 30)]
            t += 50
        assert statuses[:4] == ["firing", "resolved", "firing", "resolved"]
        [alert] = p.active_alerts()
        assert "held firing" in alert.annotations["flapping"]
        assert p.alerts(t)[0]["flapping"] is True

    def test_held_alert_resolves_once_stable(self):
        """When the changes leave the window, the held alert finally resolves."""
        p = policy(policy={"resolve_after_s": 20, "flapping": {"max_changes": 2, "window_s": 300}},
                   route={"group_wait_s": 0, "group_interval_s": 1})
        for t in (0, 50, 100):
            p.ingest(anomaly("web-1", time=t), now=t)
            p.tick(t + 1)
            p.tick(t + 30)
        assert len(p.active_alerts()) == 1
        notes = p.tick(400)
        assert [n.status for n in notes] == ["resolved"]
        assert "flapping" not in notes[0].alerts[0].annotations
