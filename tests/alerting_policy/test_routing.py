"""The routing tree: first matching child wins, continue: true goes on, settings inherit."""

from __future__ import annotations

from aiops.alerting.config import AlertingConfig, RootRouteConfig
from aiops.alerting.routing import RouteTree
from tests.alerting_policy.builders import anomaly, policy

RECEIVERS = [{"name": n} for n in ("ops", "pager", "dba", "web", "db-critical")]


def tree(routes: list[dict]) -> RouteTree:
    return RouteTree(RootRouteConfig.model_validate({"receiver": "ops", "group_wait_s": 5, "routes": routes}))


class TestRouteTree:
    def test_first_matching_child_wins(self):
        """Without continue, the walk stops at the first matching child."""
        t = tree([{"matchers": ["team=db"], "receiver": "dba"}, {"matchers": ["team=~d.*"], "receiver": "web"}])
        assert [r.receiver for r in t.match({"team": "db"})] == ["dba"]

    def test_continue_goes_on_to_siblings(self):
        """continue: true on a matching child lets later siblings match too."""
        t = tree([{"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
                  {"matchers": ["team=db"], "receiver": "dba"},
                  {"matchers": ["team=db"], "receiver": "web"}])
        assert [r.receiver for r in t.match({"severity": "critical", "team": "db"})] == ["pager", "dba"]

    def test_no_match_falls_back_to_parent(self):
        """An alert matching no child lands on the node itself (root: its receiver)."""
        t = tree([{"matchers": ["team=db"], "receiver": "dba",
                   "routes": [{"matchers": ["severity=critical"], "receiver": "db-critical"}]}])
        assert [r.receiver for r in t.match({"team": "web"})] == ["ops"]
        assert [r.receiver for r in t.match({"team": "db", "severity": "warning"})] == ["dba"]
        assert [r.receiver for r in t.match({"team": "db", "severity": "critical"})] == ["db-critical"]

    def test_settings_inherit_from_parent(self):
        """Nested routes inherit group_by and timers unless they set their own."""
        t = tree([{"matchers": ["team=db"], "receiver": "dba", "group_by": ["service"], "group_wait_s": 1,
                   "routes": [{"matchers": ["severity=critical"], "receiver": "db-critical"}]}])
        [leaf] = t.match({"team": "db", "severity": "critical"})
        assert (leaf.group_by, leaf.group_wait_s, leaf.repeat_interval_s) == (["service"], 1.0, 4 * 3600.0)

    def test_unknown_receiver_is_a_config_error(self):
        """Routes may only name configured receivers."""
        import pytest
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="unknown receivers: nobody"):
            AlertingConfig.model_validate({"route": {"receiver": "ops", "routes": [{"receiver": "nobody"}]},
                                           "receivers": [{"name": "ops"}]})


class TestPolicyRouting:
    def test_policy_notifies_each_matched_receiver(self):
        """A critical db alert reaches pager (continue) and dba; a warning only dba."""
        p = policy(receivers=RECEIVERS, route={
            "receiver": "ops", "group_by": ["host"], "group_wait_s": 10,
            "routes": [{"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
                       {"matchers": ["team=db"], "receiver": "dba"}]})
        p.ingest(anomaly("db-1", team="db", score=0.999), now=0)
        p.ingest(anomaly("db-2", team="db", score=0.91), now=0)
        p.ingest(anomaly("web-1", team="web", score=0.91), now=0)
        got = sorted((n.receiver, n.group_labels["host"]) for n in p.tick(10))
        assert got == [("dba", "db-1"), ("dba", "db-2"), ("ops", "web-1"), ("pager", "db-1")]
