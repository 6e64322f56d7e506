"""Log intelligence: templates for every log event, and the anomalies of logs.

The worker hands batches of normalised log events. Each event is enriched in
place with its template (id, text, parameters), then every detector of its
source scores it before learning it: new and rare templates, unexpected
template sequences, numeric parameters, error bursts, authentication and privilege patterns. Closed
per-window template counts come back as metric events (scored by the main
engine too) and are scored here as well.

>>> from aiops.pipeline.shapes import Event
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

from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.source_state import SourceState
from aiops.detectors.logs.template_frequency import ClosedWindow
from aiops.pipeline.errors import InputError
from aiops.pipeline.shapes import Anomaly, Event, anomaly_id, series_id_for, severity_for

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


class LogIntelligence:
    """Template mining and log/security detection for many sources, state exportable per source key."""

    def __init__(self, config: LogsConfig) -> None:
        self.config = config
        self._sources: dict[str, SourceState] = {}

    # --- processing -----------------------------------------------------------------
    def process(self, events: Sequence[Event], *, now: float) -> LogResult:
        result = LogResult()
        for index, event in enumerate(events):
            try:
                scores = self._process_one(event, now, result)
            except InputError as exc:
                result.rejected.append((index, str(exc)))
                scores = {}
            result.line_scores.append(scores)
        for state in self._sources.values():
            if state.frequency is not None:
                for window in state.frequency.close_until(now):
                    self._window_closed(state, window, now, result)
        if result.rejected:
            log.warning("log events rejected", count=len(result.rejected), first=result.rejected[0][1])
        return result

    def _process_one(self, event: Event, now: float, result: LogResult) -> dict[str, float]:
        if event.source != "log" or not isinstance(event.message, str):
            raise InputError(f"not a log event with a message: {event.series_id!r}")
        state = self._state_for(event)
        match = state.miner.add(event.message)
        event.template_id, event.template, event.params = match.template_id, match.template, match.params
        findings: list[Finding] = []
        if state.rare is not None:
            findings.append(
                state.rare.observe(match.template_id, event.time, template=match.template, level=event.level)
            )
        if state.burst is not None:
            findings.append(state.burst.observe(match.template_id, event.level, event.time, template=match.template))
        if state.parameter is not None:
            findings.append(
                state.parameter.observe(
                    match.template_id, match.params, event.time, template=match.template, positions=match.standalone
                )
            )
        if state.sequence is not None:
            findings.append(
                state.sequence.observe(match.template_id, event.time, template=match.template, judge=not match.is_new)
            )
        burst = state.errors.observe(event.level, event.time) if state.errors is not None else None
        service = event.labels.get(self.config.rules_label, "")
        findings.extend(state.security.observe(event.message, event.time, service=service))
        if state.frequency is not None:
            for window in state.frequency.add(match.template_id, event.time, template=match.template):
                self._window_closed(state, window, now, result)
        scores: dict[str, float] = {}
        for finding in [f for f in findings if f is not None] + ([burst] if burst is not None else []):
            scores[finding.kind] = max(scores.get(finding.kind, 0.0), finding.score)
            if finding is burst and not finding.key:
                continue  # one anomaly per burst: its onset
            result.anomalies.append(self._anomaly(event.series_id, state, finding, now, event=event))
        return scores

    def _window_closed(self, state: SourceState, window: ClosedWindow, now: float, result: LogResult) -> None:
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
