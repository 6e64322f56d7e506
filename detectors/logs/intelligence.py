"""Log intelligence: templates for every log event, and the anomalies of logs.

The worker hands batches of normalised log events. Each event is enriched in
place with its template (id, text, parameters), then every detector of its
source scores it before learning it: new and rare templates, unexpected
template sequences, numeric parameters, error bursts, authentication and privilege patterns. Closed
per-window template counts come back as metric events (scored by the main
engine too) and are scored here as well.

>>> from aiops.detectors.core.shapes import Event
>>> li = LogIntelligence(LogsConfig())
>>> ev = Event("log", "log|host=h1,service=sshd", {"host": "h1", "service": "sshd"}, 0.0, {},
...            message="Failed password for root from 10.1.1.1 port 22 ssh2", level="warning")
>>> result = li.process([ev], now=1.0)
>>> ev.template, ev.params
('Failed password for <USER> from <IP> port <NUM> ssh2', ['root', '10.1.1.1', '22'])
>>> result.anomalies, li.keys()
([], ['log|host=h1,service=sshd'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import structlog

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Anomaly, Event, anomaly_id, series_id_for, severity_for
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.content import ContentPrior
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.novelty import Verdict
from aiops.detectors.logs.scoring import exceedance_score
from aiops.detectors.logs.source_state import SourceState
from aiops.detectors.logs.template_frequency import ClosedWindow
from aiops.detectors.security.auth_events import read_auth_event

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class LogResult:
    """What one batch produced.

    ``line_scores`` has one dict per input event (detector name to score, only
    the detectors that flagged it); ``rejected`` lists (index, reason) of the
    events that could not be processed (for the dead-letter topic).
    """

    anomalies: list[Anomaly] = field(default_factory=list)
    metric_events: list[Event] = field(default_factory=list)
    line_scores: list[dict[str, float]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    line_alerts: list[bool] = field(default_factory=list)
    episodes_ended: list[EpisodeEnd] = field(default_factory=list)


@dataclass(slots=True)
class EpisodeEnd:
    """An episode that ended: its source, kind and key (template, position...), why, when, how many lines."""

    source: str
    kind: str
    key: str
    reason: str
    time: float
    lines: int


#: Log settings a running worker keeps until it restarts: they decide how lines are keyed and mined, so a change
#: would split what is learned per source from what arrives next.
RESTART_KEYS = ("source_label", "rules_label", "mining")


def restart_keys(running: LogsConfig, new: LogsConfig) -> list[str]:
    """The settings of ``RESTART_KEYS`` that differ (as ``logs.KEY``).

    >>> restart_keys(LogsConfig(), LogsConfig(rules_label="app"))
    ['logs.rules_label']
    """
    return [f"logs.{key}" for key in RESTART_KEYS if getattr(running, key) != getattr(new, key)]


def keeping_running(running: LogsConfig, new: LogsConfig) -> LogsConfig:
    """``new`` with the ``RESTART_KEYS`` of ``running``: the log settings a reload puts in effect."""
    return new.model_copy(update={key: getattr(running, key) for key in RESTART_KEYS})


class LogIntelligence:
    """Template mining and log/security detection for many sources, state exportable per source key."""

    def __init__(self, config: LogsConfig) -> None:
        self.config = config
        self.prior = ContentPrior(config.content)
        self._sources: dict[str, SourceState] = {}

    def reconfigure(self, config: LogsConfig) -> LogsConfig:
        """Apply new settings to every source now: thresholds, windows, detectors switched on or off.

        What each source learned stays. ``RESTART_KEYS`` keep their running values; the settings in effect are
        returned.
        """
        effective = keeping_running(self.config, config)
        self.config = effective
        if effective.content != self.prior.config:
            self.prior = ContentPrior(effective.content)
        for state in self._sources.values():
            state.apply_settings(effective)
        return effective

    # --- processing -----------------------------------------------------------------
    def process(self, events: Sequence[Event], *, now: float, judge: bool = True) -> LogResult:
        """Enrich, judge and learn a batch; ``judge=False`` only learns (a history replayed on purpose)."""
        result = LogResult()
        for index, event in enumerate(events):
            try:
                scores = self._process_one(event, now, result, judge=judge)
            except InputError as exc:
                result.rejected.append((index, str(exc)))
                result.line_alerts.append(False)
                scores = {}
            result.line_scores.append(scores)
        for state in self._sources.values():
            if state.frequency is not None:
                for window in state.frequency.close_until(now):
                    self._window_closed(state, window, now, result)
        if result.rejected:
            log.warning("log events rejected", count=len(result.rejected), first=result.rejected[0][1])
        return result

    def _process_one(self, event: Event, now: float, result: LogResult, *, judge: bool = True) -> dict[str, float]:
        if event.source != "log" or not isinstance(event.message, str):
            raise InputError(f"not a log event with a message: {event.series_id!r}")
        state = self._state_for(event)
        cfg = self.config
        age_limit = cfg.learn_only_older_than_s
        judge = judge and (age_limit is None or now - event.time <= age_limit)
        state.profile.observe(event.time)
        weights = state.profile.weights() if state.profile.sparse or not state.profile.decided else None
        match = state.miner.add(event.message)
        template_id = match.template_id
        event.template_id, event.template, event.params = template_id, match.template, match.params
        line = state.lines
        state.lines += 1
        scores: dict[str, float] = {}
        alerted = False
        if state.novelty is not None:
            content = state.content.get(template_id)
            if content is None:
                content = self.prior.weight(event.message)
                if len(state.content) < cfg.novelty.max_templates:
                    state.content[template_id] = content
            verdict = state.novelty.observe(template_id, event.level, event.time, content=content, judge=judge)
            if verdict is not None:
                scores[verdict.kind] = exceedance_score(max(verdict.evidence, 1e-9), cfg.novelty.threshold)
                if verdict.opened:
                    alerted = True
                    result.anomalies.append(
                        self._anomaly(event.series_id, state, self._novelty_finding(verdict, event, state), now,
                                      event=event)
                    )
            for ended in state.novelty.take_ended():
                result.episodes_ended.append(
                    EpisodeEnd(state.key, ended.episode.kind, ended.template_id, ended.reason, ended.time,
                               ended.episode.lines)
                )
        findings: list[Finding | None] = []
        if state.rare is not None:
            findings.append(state.rare.observe(template_id, event.time, template=match.template, level=event.level))
        if state.burst is not None:
            findings.append(state.burst.observe(template_id, event.level, event.time, template=match.template))
        if state.parameter is not None:
            findings.append(
                state.parameter.observe(
                    template_id, match.params, event.time, template=match.template, positions=match.standalone
                )
            )
        if state.sequence is not None:
            found = state.sequence.observe(template_id, event.time, template=match.template, judge=not match.is_new)
            findings.append(found if weights is None or weights["sequence"] > 0 else None)
        if state.errors is not None:
            accepted = state.novelty is not None and template_id in state.novelty.accepted
            # an error of a pattern accepted as normal is no longer part of a burst
            found = state.errors.observe(None if accepted else event.level, event.time)
            findings.append(found if weights is None or weights["error_burst"] > 0 else None)
        for detector in state.plugins.values():  # log detectors of plugins (logs.detectors)
            findings.append(detector.observe(event))
        service = event.labels.get(cfg.rules_label, "")
        security = self._security(state, event.message, event.time, service)
        if state.frequency is not None:
            for window in state.frequency.add(template_id, event.time, template=match.template):
                self._window_closed(state, window, now, result, judge=judge)
        if judge:
            for finding in findings:
                if finding is None:
                    continue
                key = f"{template_id}:{finding.key}" if finding.kind == "parameter" else template_id
                if finding.kind in ("sequence", "error_burst"):
                    key = ""
                number, opened = state.book(finding.kind, cfg).see(key, line=line, time=event.time)
                if opened is None:
                    continue  # its episode is accepted: this pattern is now the source's normal
                scores[finding.kind] = max(scores.get(finding.kind, 0.0), finding.score)
                if opened:
                    alerted = True
                    finding.values["episode"] = float(number)
                    result.anomalies.append(self._anomaly(event.series_id, state, finding, now, event=event))
            for finding in security:
                scores[finding.kind] = max(scores.get(finding.kind, 0.0), finding.score)
                result.anomalies.append(self._anomaly(event.series_id, state, finding, now, event=event))
        for kind, book in state.books.items():
            if not book.open:
                continue
            for ended in book.take_accepted():
                result.episodes_ended.append(
                    EpisodeEnd(state.key, kind, ended.key, "accepted", event.time, ended.lines)
                )
            for ended in book.expire(line=line, time=event.time):
                result.episodes_ended.append(EpisodeEnd(state.key, kind, ended.key, "quiet", event.time, ended.lines))
        result.line_alerts.append(alerted)
        return scores

    @staticmethod
    def _security(state: SourceState, message: str, time: float, service: str) -> list[Finding]:
        """The security detectors' findings on a line; a line repeated word for word that held no
        authentication event before holds none now, and is not read again."""
        key = (service, message)
        if key in state.without_auth:
            return []
        if read_auth_event(message, time, service=service) is None:
            if len(state.without_auth) >= 4096:
                state.without_auth.clear()
            state.without_auth.add(key)
            return []
        return state.security.observe(message, time, service=service)

    def _novelty_finding(self, verdict: Verdict, event: Event, state: SourceState) -> Finding:
        """The judge's verdict as a finding: what the line said and why it weighs."""
        cfg = self.config.novelty
        parts = verdict.parts
        said = "; ".join(self.prior.explain(event.message)) or "no fault words"
        history = (
            f"first occurrence after {state.novelty.lines - 1 if state.novelty else 0} lines of this source"
            if verdict.seen_before == 0
            else f"seen {verdict.seen_before} times before, not yet familiar"
        )
        return Finding(
            kind=verdict.kind,
            detector="novelty",
            score=exceedance_score(max(verdict.evidence, 1e-9), cfg.threshold),
            threshold=0.9,
            reason=(
                f"template '{event.template}': {history}; level {event.level or 'unknown'} "
                f"({parts['level']:+.1f}), {said} ({parts['content']:+.1f}), novelty {parts['novelty']:+.1f}: "
                f"evidence {verdict.evidence:.1f} >= {cfg.threshold:g}; episode {verdict.episode} opens"
            ),
            time=event.time,
            values={
                "evidence": verdict.evidence,
                "level_weight": parts["level"],
                "content_weight": parts["content"],
                "novelty_weight": parts["novelty"],
                "seen_before": float(verdict.seen_before),
                "episode": float(verdict.episode),
            },
        )

    def _window_closed(
        self, state: SourceState, window: ClosedWindow, now: float, result: LogResult, *, judge: bool = True
    ) -> None:
        labels = {k: state.labels[k] for k in ("host", "service") if k in state.labels}
        result.metric_events.append(
            Event(
                source="metric",
                series_id=series_id_for("templates", labels),
                labels=labels,
                time=window.end,
                features=dict(window.vector),
                ingest_time=now,
            )
        )
        age_limit = self.config.learn_only_older_than_s
        replayed = age_limit is not None and now - window.end > age_limit
        if not judge or replayed or state.profile.sparse or not state.profile.decided:
            return  # a replayed window, or windows of seconds on a sampled stream: counts only
        for finding in window.findings:
            result.anomalies.append(self._anomaly(state.key, state, finding, now))

    def _anomaly(
        self, series_id: str, state: SourceState, finding: Finding, now: float, *, event: Event | None = None
    ) -> Anomaly:
        labels = dict(event.labels if event is not None else state.labels)
        labels.update(finding.labels)
        kind_key = f"{finding.kind}|{finding.key}" if finding.key else finding.kind
        return Anomaly(
            id=anomaly_id(series_id, finding.time, kind_key),
            source="log",
            series_id=series_id,
            labels=labels,
            time=finding.time,
            values=dict(finding.values),
            score=finding.score,
            threshold=finding.threshold,
            severity=severity_for(finding.score),
            detectors={finding.detector: finding.score},
            contributions={},
            expected={},
            message=event.message if event is not None else None,
            template=event.template if event is not None else None,
            kind=finding.kind,
            reason=finding.reason,
            ingest_time=event.ingest_time if event is not None else now,
            detected_time=now,
        )

    def _state_for(self, event: Event) -> SourceState:
        key = self.source_key(event)
        state = self._sources.get(key)
        if state is None:
            rules_name = event.labels.get(self.config.rules_label, key)
            state = self._sources[key] = SourceState(key, rules_name, event.labels, self.config)
        return state

    def source_key(self, event: Event) -> str:
        """The key of the source an event belongs to (the series id unless a label is configured)."""
        label = self.config.source_label
        if label is None:
            return event.series_id
        value = event.labels.get(label)
        if not value:
            raise InputError(f"log event {event.series_id!r} has no {label!r} label")
        return value

    # --- state ----------------------------------------------------------------------
    def keys(self) -> list[str]:
        return sorted(self._sources)

    def export_state(self, keys: Iterable[str]) -> dict[str, bytes]:
        return {k: self._sources[k].to_bytes() for k in keys if k in self._sources}

    def import_state(self, states: Mapping[str, bytes]) -> None:
        """Restore sources from snapshots; an unreadable one is logged and started afresh."""
        restored = 0
        for key, data in states.items():
            try:
                self._sources[key] = SourceState.from_bytes(key, data, self.config)
                restored += 1
            except InputError as exc:
                log.warning("log state dropped", source=key, reason=str(exc))
        log.info("log state restored", sources=restored, dropped=len(states) - restored)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._sources.pop(key, None)
