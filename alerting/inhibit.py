"""Inhibition: a firing source alert mutes target alerts that share some labels.

As in Alertmanager, an alert matching both sides cannot inhibit itself.

>>> from aiops.alerting.config import InhibitRuleConfig
>>> rule = InhibitRuleConfig(source_matchers=["alertname=HostDown"],
...                          target_matchers=["alertname!=HostDown"], equal=["host"])
>>> inhibitor = Inhibitor([rule])
>>> firing = [{"alertname": "HostDown", "host": "web-1"}]
>>> inhibitor.inhibited({"alertname": "AnomalyDetected", "host": "web-1"}, firing)
True
>>> inhibitor.inhibited({"alertname": "AnomalyDetected", "host": "web-2"}, firing)
False
>>> inhibitor.index(firing).inhibited({"alertname": "HostDown", "host": "web-1"})
False
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

from aiops.alerting.config import InhibitRuleConfig
from aiops.alerting.matchers import matches_all, parse_matchers


class InhibitRule:
    def __init__(self, config: InhibitRuleConfig) -> None:
        self.source = parse_matchers(config.source_matchers)
        self.target = parse_matchers(config.target_matchers)
        self.equal = list(config.equal)

    def mutes(self, target: Mapping[str, str], source: Mapping[str, str]) -> bool:
        if source is target or dict(source) == dict(target):
            return False
        return (matches_all(self.target, target) and matches_all(self.source, source)
                and all(target.get(k, "") == source.get(k, "") for k in self.equal))


class Inhibitor:
    """Says whether an alert is muted by one of the currently firing alerts."""

    def __init__(self, rules: Sequence[InhibitRuleConfig] = ()) -> None:
        self.rules = [InhibitRule(r) for r in rules]

    def inhibited(self, labels: Mapping[str, str], firing: Sequence[Mapping[str, str]]) -> bool:
        return any(rule.mutes(labels, source) for rule in self.rules for source in firing)

    def index(self, firing: Sequence[Mapping[str, str]]) -> InhibitIndex:
        """A lookup built once over the firing alerts, to test many targets cheaply."""
        return InhibitIndex(self.rules, firing)


class InhibitIndex:
    """Per rule, how many firing sources share each tuple of ``equal`` values.

    ``inhibited`` assumes the target is itself one of the firing alerts (it
    does not count itself as its own source).
    """

    def __init__(self, rules: Sequence[InhibitRule], firing: Sequence[Mapping[str, str]]) -> None:
        self._rules: list[tuple[InhibitRule, Counter[tuple[str, ...]]]] = []
        for rule in rules:
            counts: Counter[tuple[str, ...]] = Counter(
                tuple(src.get(k, "") for k in rule.equal) for src in firing if matches_all(rule.source, src))
            if counts:
                self._rules.append((rule, counts))

    def inhibited(self, labels: Mapping[str, str]) -> bool:
        for rule, counts in self._rules:
            if not matches_all(rule.target, labels):
                continue
            sources = counts.get(tuple(labels.get(k, "") for k in rule.equal), 0)
            if sources and matches_all(rule.source, labels):
                sources -= 1
            if sources > 0:
                return True
        return False
