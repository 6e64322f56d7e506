"""Silences: the four matcher operators, time bounds, expiry, persistence, and muting in the policy."""

from __future__ import annotations

import pytest

from aiops.alerting.matchers import MatcherError
from aiops.alerting.silences import SilenceError, SilenceStore
from tests.alerting_policy.builders import anomaly, policy


@pytest.mark.parametrize(("matcher", "labels", "expected"), [
    ("host=web-1", {"host": "web-1"}, True),
    ("host=web-1", {"host": "web-10"}, False),
    ("host!=web-1", {"host": "web-2"}, True),
    ("host!=web-1", {"host": "web-1"}, False),
    ('host=~"web-[0-9]+"', {"host": "web-12"}, True),
    ('host=~"web-[0-9]+"', {"host": "xweb-12"}, False),   # anchored
    ("host!~web-.*", {"host": "db-1"}, True),
    ("host!~web-.*", {"host": "web-1"}, False),
    ("team!=ops", {}, True),                               # missing label is ""
    ("team=", {}, True),
])
def test_matcher_operators(matcher, labels, expected):
    """Each operator matches as Alertmanager's does."""
    store = SilenceStore()
    store.create([matcher], starts_at=0, ends_at=10, created_by="t", now=0)
    assert bool(store.silenced_by(labels, now=5)) is expected


class TestSilenceStore:
    def test_time_bounds_and_expiry(self):
        """Pending before start, active inside, expired after the end or when expired by hand."""
        store = SilenceStore()
        s = store.create(["host=a"], starts_at=100, ends_at=200, created_by="ana", comment="deploy", now=0)
        assert s.status(50) == "pending" and store.silenced_by({"host": "a"}, 50) == []
        assert store.silenced_by({"host": "a"}, 150) == [s.id]
        assert store.silenced_by({"host": "a"}, 200) == []
        store.expire(s.id, now=150)
        assert store.silenced_by({"host": "a"}, 151) == [] and s.status(151) == "expired"

    def test_bad_requests_are_input_errors(self):
        """Bad matchers, reversed times, no creator, unknown ids: clear errors."""
        store = SilenceStore()
        with pytest.raises(MatcherError):
            store.create(['host=~"("'], starts_at=0, ends_at=1, created_by="t", now=0)
        with pytest.raises(SilenceError):
            store.create(["host=a"], starts_at=5, ends_at=1, created_by="t", now=0)
        with pytest.raises(SilenceError):
            store.create(["host=a"], starts_at=0, ends_at=1, created_by="", now=0)
        with pytest.raises(SilenceError):
            store.create([], starts_at=0, ends_at=1, created_by="t", now=0)
        with pytest.raises(SilenceError):
            store.expire("nope", now=0)

    def test_persisted_to_a_json_file(self, tmp_path):
        """A new store on the same file sees the silences, including expiry."""
        path = tmp_path / "silences.json"
        first = SilenceStore(path)
        kept = first.create(["host=a"], starts_at=0, ends_at=100, created_by="t", now=0)
        gone = first.create(["host=b"], starts_at=0, ends_at=100, created_by="t", now=0)
        first.expire(gone.id, now=10)
        second = SilenceStore(path)
        assert second.silenced_by({"host": "a"}, 50) == [kept.id]
        assert second.silenced_by({"host": "b"}, 50) == []

    def test_corrupt_file_is_a_clear_error(self, tmp_path):
        path = tmp_path / "silences.json"
        path.write_text("{not json")
        with pytest.raises(SilenceError, match="cannot read silences"):
            SilenceStore(path)


class TestPolicyMuting:
    def test_silenced_alert_is_not_notified_and_shows_why(self):
        """A silence mutes the matching alert only; the API view says which silence."""
        p = policy()
        s = p.silences.create(["host=web-1", "severity=~error|critical"], starts_at=0, ends_at=1000,
                              created_by="t", now=0)
        p.ingest(anomaly("web-1"), now=0)
        p.ingest(anomaly("web-2"), now=0)
        assert [n.group_labels["host"] for n in p.tick(10)] == ["web-2"]
        view = {a["labels"]["host"]: a for a in p.alerts(10)}
        assert view["web-1"]["state"] == "suppressed" and view["web-1"]["muted"]["silenced_by"] == [s.id]
        assert view["web-2"]["state"] == "active"

    def test_alert_is_notified_once_the_silence_expires(self):
        """Expiring a silence lets the still-firing alert out at the next flush."""
        p = policy()
        s = p.silences.create(["host=web-1"], starts_at=0, ends_at=1000, created_by="t", now=0)
        p.ingest(anomaly("web-1", time=0), now=0)
        assert p.tick(10) == []
        p.silences.expire(s.id, now=30)
        p.ingest(anomaly("web-1", time=60), now=60)
        [note] = p.tick(70)
        assert note.alerts[0].labels["host"] == "web-1"


def test_lookup_index_agrees_with_a_scan():
    """Indexed lookup finds exactly the silences a full scan of every matcher finds."""
    import random

    from aiops.alerting.matchers import matches_all, parse_matchers

    rng = random.Random(3)
    store = SilenceStore()
    forms = ["host=h{}", "host!=h{}", "host=~h{}.*", "service=s{}", "service!~s{}", "team="]
    for _ in range(60):
        matchers = rng.sample(forms, rng.randint(1, 3))
        store.create([f.format(rng.randint(0, 9)) for f in matchers], starts_at=rng.randint(0, 50),
                     ends_at=rng.randint(60, 200), created_by="t", now=0)
    for _ in range(300):
        labels = {"host": f"h{rng.randint(0, 12)}", "service": f"s{rng.randint(0, 9)}"}
        now = rng.randint(0, 220)
        scan = sorted(s.id for s in store.list(now)
                      if s.status(now) == "active" and matches_all(parse_matchers(s.matchers), labels))
        assert store.silenced_by(labels, now) == scan


def test_long_expired_silences_are_forgotten():
    store = SilenceStore()
    old = store.create(["host=a"], starts_at=0, ends_at=10, created_by="t", now=0)
    store.create(["host=b"], starts_at=0, ends_at=10**7, created_by="t", now=10 + 6 * 86400)
    assert old.id not in [s.id for s in store.list(0)]
