"""Run log intelligence over syslog files and tell what the security detectors fire.

>>> lines = ["Dec 10 06:55:46 h sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2"] * 6
>>> fired = security_findings(lines, year=2017)
>>> sorted({a.kind for a in fired})
['auth_failure_burst']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Anomaly
from aiops.detectors.evaluation.security_synthetic import Expected, attack_scenario, matches
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.intelligence import LogIntelligence
from aiops.detectors.security.syslog3164 import parse_syslog_line, to_log_event

SECURITY_KINDS = frozenset(
    {"auth_failure_burst", "password_spraying", "login_after_failures", "new_login_source", "unusual_sudo"}
)


def security_findings(
    lines: Iterable[str], *, config: LogsConfig | None = None, year: int = 2026, batch: int = 200
) -> list[Anomaly]:
    """The security anomalies of raw syslog lines, in order (unparsable lines are skipped)."""
    intelligence = LogIntelligence(config or LogsConfig())
    events = []
    for raw in lines:
        try:
            events.append(to_log_event(parse_syslog_line(raw, year=year)))
        except InputError:
            continue
    found: list[Anomaly] = []
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        result = intelligence.process(chunk, now=chunk[-1].time)
        found.extend(a for a in result.anomalies if a.kind in SECURITY_KINDS)
    return found


@dataclass(slots=True)
class ScenarioResult:
    """How the security detectors did on a scenario with ground truth."""

    expected: list[Expected]
    found: list[Anomaly]
    detected: list[Expected]
    false_alarms: list[Anomaly]

    @property
    def recall(self) -> float:
        return len(self.detected) / len(self.expected) if self.expected else 1.0

    @property
    def precision(self) -> float:
        return 1.0 - len(self.false_alarms) / len(self.found) if self.found else 1.0


def run_scenario(*, seed: int = 7, config: LogsConfig | None = None) -> ScenarioResult:
    """Run the synthetic attack scenario and match what fired against its ground truth."""
    lines, truth = attack_scenario(seed=seed)
    found = security_findings(lines, config=config, year=2026)
    detected = [t for t in truth if any(matches(t, a.kind, a.labels, a.time) for a in found)]
    false_alarms = [a for a in found if not any(matches(t, a.kind, a.labels, a.time) for t in truth)]
    return ScenarioResult(truth, found, detected, false_alarms)
