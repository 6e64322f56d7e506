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
"""

from __future__ import annotations

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
