"""Invariants of the policy's timers over random anomaly streams (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alerting_policy.builders import anomaly, policy

steps = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 90),
                           st.floats(0.9, 1.0), st.booleans()), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_timer_and_resolution_invariants(stream):
    """group_wait before a group's first send, group_interval between its sends, resolved only after firing."""
    p = policy(route={"group_wait_s": 10, "group_interval_s": 60, "repeat_interval_s": 600, "group_by": ["host"]},
               policy={"resolve_after_s": 120, "flapping": {"enabled": False}})
    now = 0.0
    first_seen: dict[str, float] = {}
    last_sent: dict[str, float] = {}
    fired: set[tuple[str, str]] = set()
    for host, metric, dt, score, is_anomaly in stream:
        now += dt
        if is_anomaly:
            a = anomaly(f"h{host}", metric=f"m{metric}", time=now, score=score)
            p.ingest(a, now=now)
            first_seen.setdefault(f"h{host}", now)
        for note in p.tick(now):
            host_label = note.group_labels["host"]
            assert now >= first_seen[host_label] + 10
            if note.group_key in last_sent:
                assert now - last_sent[note.group_key] >= 60
            last_sent[note.group_key] = now
            for alert in note.alerts:
                key = (note.receiver, alert.fingerprint)
                if alert.status == "resolved":
                    assert key in fired and alert.ends_at <= now
                    fired.discard(key)
                else:
                    fired.add(key)
            assert all(a.starts_at <= now for a in note.alerts)
            if note.status == "resolved":  # the group is empty now and is dropped: a new one waits again
                del last_sent[note.group_key], first_seen[host_label]
    # every alert eventually resolves and is told once everything goes quiet
    for note in p.tick(now + 200) + p.tick(now + 300):
        for alert in note.alerts:
            fired.discard((note.receiver, alert.fingerprint))
    assert fired == set() and p.active_alerts() == []
