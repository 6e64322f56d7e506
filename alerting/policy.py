"""From anomalies to notifications: alert state, timers, muting, flapping.

``AlertPolicy`` is a plain object with an injected clock: the worker calls
``ingest(anomaly, now)`` for every anomaly, ``observe_normal(series_id,
time)`` for normal points when it has them, and ``tick(now)`` every second or
so; ``tick`` returns the notifications to hand to ``Delivery.submit``.

>>> from aiops.alerting.config import AlertingConfig
>>> from aiops.detectors.core.shapes import Anomaly
>>> config = AlertingConfig.model_validate({"route": {"group_wait_s": 10}})
>>> policy = AlertPolicy(config, signer=LinkSigner(b"0" * 32))
>>> a = Anomaly(id="a1", source="metric", series_id="cpu|host=web-1", labels={"host": "web-1"},
...             time=100.0, values={"user": 97.0}, score=0.97, threshold=0.9, severity="error",
...             detectors={"zscore": 0.97}, contributions={"user": 1.0}, expected={"user": (10.0, 30.0)},
...             reason="user=97 outside expected 10..30 (zscore 0.97)")
>>> from structlog.testing import capture_logs
>>> with capture_logs() as logs:
...     policy.ingest(a, now=100.0)
>>> logs[0]["event"]
'alert.firing'
>>> policy.tick(105.0)
[]
>>> [n] = policy.tick(110.0)
>>> n.receiver, n.alerts[0].severity, n.alerts[0].annotations["description"]
('default', 'error', 'user=97 (expected 10..30). user=97 outside expected 10..30 (zscore 0.97)')
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import structlog

from aiops.alerting.alert import SEVERITIES, Alert, Notification, fingerprint
from aiops.alerting.config import AlertingConfig
from aiops.alerting.feedback import FeedbackBook, LinkSigner
from aiops.alerting.flapping import FlapTracker
from aiops.alerting.grouping import SEVERITY_RANK, AlertGroup, group_key
from aiops.alerting.inhibit import InhibitIndex, Inhibitor
from aiops.alerting.maintenance import MaintenanceCalendar
from aiops.alerting.routing import RouteTree
from aiops.alerting.silences import SilenceStore
from aiops.alerting.templates import render, render_url
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Anomaly, surprise_decades

log = structlog.get_logger(__name__)

#: why an anomaly episode ended, as the resolved alert's ``ended`` annotation says it
EPISODE_ENDINGS = {"returned": "the series returned to its baseline",
                   "accepted": "the new behaviour was accepted as the series' normal (a change point)"}


class AlertPolicyError(InputError):
    """An anomaly or state blob the policy cannot use."""


@dataclass(slots=True)
class AlertState:
    """What the policy knows about one fingerprint beyond the ``Alert`` itself."""

    alert: Alert
    series_id: str
    anomaly_times: list[float] = field(default_factory=list)
    last_anomaly_time: float = 0.0
    last_seen_at: float = 0.0
    normal_until: float = -math.inf
    held_flapping: bool = False
    latest: Anomaly | None = None
    placed_severity: str | None = None
    ended: str | None = None  # the series' episode ended ("returned" or "accepted"): resolve at the next tick
    peak_surprise: float | None = None  # the highest anomaly_score among the alert's anomalies

    def to_dict(self) -> dict[str, Any]:
        return {"alert": self.alert.to_dict(), "series_id": self.series_id, "anomaly_times": self.anomaly_times,
                "last_anomaly_time": self.last_anomaly_time, "last_seen_at": self.last_seen_at,
                "normal_until": None if self.normal_until == -math.inf else self.normal_until,
                "held_flapping": self.held_flapping, "latest": self.latest.to_dict() if self.latest else None,
                "ended": self.ended, "peak_surprise": self.peak_surprise}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        data = dict(data)
        data["alert"] = Alert.from_dict(data["alert"])
        data["normal_until"] = -math.inf if data.get("normal_until") is None else data["normal_until"]
        data["latest"] = Anomaly.from_dict(data["latest"]) if data.get("latest") else None
        return cls(**data)


def describe_surprise(score: float) -> str:
    """An anomaly_score in words: how rare such a point is given the series' own past.

    >>> describe_surprise(0.5), describe_surprise(0.8), describe_surprise(0.97)
    ('0.500: a 1-in-100 point for this series', '0.800: a 1-in-10^8 point for this series', '0.970: a 1-in-10^65 point for this series')
    """
    decades = surprise_decades(score)
    rare = f"{10 ** decades:,.0f}" if decades < 3.0 else f"10^{decades:.0f}"
    return f"{score:.3f}: a 1-in-{rare} point for this series"


def observed_vs_expected(anomaly: Anomaly) -> str:
    """``feature=value (expected lo..hi)`` for the features that contributed most.

    >>> from aiops.detectors.core.shapes import Anomaly
    >>> a = Anomaly("i", "metric", "s", {}, 0.0, {"user": 97.0, "sys": 3.0}, 0.99, 0.9, "error", {},
    ...             {"user": 0.8, "sys": 0.2}, {"user": (10.0, 30.0)})
    >>> observed_vs_expected(a)
    'user=97 (expected 10..30), sys=3'
    """
    names = sorted(anomaly.values, key=lambda k: -anomaly.contributions.get(k, 0.0))[:3]
    parts = []
    for name in names:
        value = anomaly.values[name]
        rng = anomaly.expected.get(name)
        text = f"{name}={value:.4g}"
        if rng is not None:
            text += f" (expected {rng[0]:.4g}..{rng[1]:.4g})"
        parts.append(text)
    return ", ".join(parts) or "no values"


def detectors_that_fired(anomaly: Anomaly) -> str:
    """The detectors at or over the threshold, strongest first (else the strongest one), with their scores.

    >>> from aiops.detectors.core.shapes import Anomaly
    >>> a = Anomaly("i", "metric", "s", {}, 0.0, {"user": 97.0}, 0.99, 0.9, "error",
    ...             {"zscore": 0.999987, "cusum": 0.95, "hst": 0.2}, {}, {})
    >>> detectors_that_fired(a)
    'zscore 0.999987, cusum 0.95'
    """
    scores = anomaly.detectors
    fired = sorted((k for k, v in scores.items() if v >= anomaly.threshold), key=lambda k: -scores[k])
    fired = fired or sorted(scores, key=lambda k: -scores[k])[:1]
    return ", ".join(f"{k} {scores[k]:.6g}" for k in fired)  # far-tail scores differ in the 5th decimal


class AlertPolicy:
    """Groups, routes, mutes and times alerts made from anomalies."""

    def __init__(self, config: AlertingConfig, *, silences: SilenceStore | None = None,
                 maintenance: MaintenanceCalendar | None = None, feedback: FeedbackBook | None = None,
                 signer: LinkSigner | None = None) -> None:
        self.config = config
        self.routes = RouteTree(config.route)
        self.silences = silences if silences is not None else SilenceStore(config.silences.path)
        self.maintenance = maintenance or MaintenanceCalendar(config.maintenance)
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.feedback = feedback or FeedbackBook(config.feedback)
        self.signer = signer or LinkSigner.from_config(config.feedback)
        self.flaps = FlapTracker(config.policy.flapping)
        self.states: dict[str, AlertState] = {}
        self.groups: dict[str, AlertGroup] = {}
        self._by_series: dict[str, set[str]] = {}
        self._forgot_at = -math.inf
        self.suppressed_repeats = 0

    # -- input -------------------------------------------------------------

    def labels_for(self, anomaly: Anomaly) -> dict[str, str]:
        """The identifying labels of an anomaly's alert (its fingerprint is made of these)."""
        keep = self.config.policy.identifying_labels
        entity = {k: str(v) for k, v in anomaly.labels.items() if keep is None or k in keep}
        return {**entity, "alertname": self.config.policy.alertname, "series_id": anomaly.series_id,
                "kind": anomaly.kind, "source": anomaly.source}

    def severity_for(self, score: float, steps_down: int = 0) -> str:
        cfg = self.config.policy
        base = 3 if score >= cfg.critical_score else 2 if score >= cfg.error_score else 1
        return SEVERITIES[max(0, base - steps_down)]

    def ingest(self, anomaly: Anomaly, now: float) -> None:
        """Add an anomaly: opens or updates its alert and puts it in its groups."""
        self._check(anomaly)
        labels = self.labels_for(anomaly)
        fp = fingerprint(labels)
        if self.feedback.suppresses(fp, now):
            self.suppressed_repeats += 1
            log.info("alert.repeat_suppressed", fingerprint=fp, why="marked false positive")
            return
        severity = self.severity_for(anomaly.score, self.feedback.downgrade_steps(fp, now))
        state = self.states.get(fp)
        if state is None or state.alert.status == "resolved":
            if state is not None:
                self.flaps.record(fp, now)
            alert = Alert.firing(labels=labels, annotations={}, starts_at=anomaly.time,
                                 severity=severity, score=anomaly.score)
            state = self.states[fp] = AlertState(alert=alert, series_id=anomaly.series_id)
            self._by_series.setdefault(anomaly.series_id, set()).add(fp)
            log.info("alert.firing", fingerprint=fp, series_id=anomaly.series_id, severity=severity)
        alert = state.alert
        if SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]:
            alert.severity = severity
        alert.score = max(alert.score, anomaly.score)
        if anomaly.id not in alert.anomaly_ids:
            alert.anomaly_ids.append(anomaly.id)
            state.anomaly_times.append(anomaly.time)
            keep = self.config.policy.max_anomaly_ids
            del alert.anomaly_ids[:-keep], state.anomaly_times[:-keep]
        alert.updated_at = now
        if anomaly.time > state.last_anomaly_time:
            state.ended = None  # a later anomaly: the episode that ended was not the last word
            alert.annotations.pop("ended", None)
        state.last_anomaly_time = max(state.last_anomaly_time, anomaly.time)
        if anomaly.surprise is not None:
            state.peak_surprise = max(state.peak_surprise or 0.0, anomaly.surprise)
        state.last_seen_at = now
        state.latest = anomaly
        if state.placed_severity != alert.severity:
            self._place(alert, now)
            state.placed_severity = alert.severity

    def end_episode(self, series_id: str, time: float, reason: str) -> None:
        """The series' anomaly episode ended at event time ``time``: its firing alerts resolve at the next tick.

        ``reason`` is ``returned`` (back at its baseline) or ``accepted`` (the new
        behaviour is the new normal, a change point); the alert says which.
        """
        for fp in self._by_series.get(series_id, ()):
            state = self.states[fp]
            if state.alert.status == "firing" and time >= state.last_anomaly_time:
                state.ended = reason
                state.alert.annotations["ended"] = EPISODE_ENDINGS[reason]

    def observe_normal(self, series_id: str, time: float) -> None:
        """A normal point of a series at event time ``time`` (lets its alert resolve)."""
        for fp in self._by_series.get(series_id, ()):
            state = self.states[fp]
            if state.alert.status == "firing" and time > state.last_anomaly_time:
                state.normal_until = max(state.normal_until, time)

    # -- output ------------------------------------------------------------

    def tick(self, now: float) -> list[Notification]:
        """Resolve what has been normal long enough, then flush the groups that are due."""
        self._resolve(now)
        due = [(key, group) for key, group in self.groups.items() if group.due(now)]
        inhibition = self._inhibition() if due else None
        out: list[Notification] = []
        for key, group in due:
            note = self._flush(group, now, inhibition)
            if note is not None:
                out.append(note)
            if not group.fingerprints:
                del self.groups[key]
        if now - self._forgot_at >= 60.0:
            self._forget_old(now)
            self._forgot_at = now
        return out

    def _flush(self, group: AlertGroup, now: float, inhibition: InhibitIndex | None) -> Notification | None:
        visible = []
        for fp in sorted(group.fingerprints):
            alert = self._rendered(self.states[fp]).alert
            if alert.status == "resolved" and fp in group.notified_firing:
                visible.append(alert)  # receivers that saw it firing hear it resolved, muted or not
            elif alert.status == "firing" and not self.muted_by(alert, now, inhibition):
                visible.append(alert)
            elif alert.status == "resolved":
                group.drop(fp)
        return group.flush(visible, now)

    def match_labels(self, alert: Alert) -> dict[str, str]:
        """Labels that matchers (routes, silences, inhibition) see: the alert's plus its severity."""
        return {**alert.labels, "severity": alert.severity}

    def muted_by(self, alert: Alert, now: float, inhibition: InhibitIndex | None = None) -> dict[str, Any]:
        """Why a firing alert is muted now (empty: it is not)."""
        labels = self.match_labels(alert)
        if inhibition is None:
            inhibition = self._inhibition()
        why: dict[str, Any] = {}
        silenced = self.silences.silenced_by(labels, now)
        if silenced:
            why["silenced_by"] = silenced
        if inhibition.inhibited(labels):
            why["inhibited"] = True
        windows = self.maintenance.muted_by(labels, now)
        if windows:
            why["maintenance"] = windows
        return why

    def should_learn(self, labels: Mapping[str, str], time: float) -> bool:
        """False while a maintenance window covers these labels (the worker asks before learning)."""
        return self.maintenance.should_learn(labels, time)

    def alerts(self, now: float) -> list[dict[str, Any]]:
        """Every known alert, with whether and why it is muted (for the API)."""
        out = []
        inhibition = self._inhibition()
        for state in self.states.values():
            data = self._rendered(state).alert.to_dict()
            muted = self.muted_by(state.alert, now, inhibition) if state.alert.status == "firing" else {}
            data.update(state="suppressed" if muted else "active", muted=muted, series_id=state.series_id,
                        flapping=state.held_flapping)
            out.append(data)
        return sorted(out, key=lambda d: (d["status"], -d["starts_at"]))

    def active_alerts(self) -> list[Alert]:
        """Firing alerts (for remediation policies)."""
        return [self._rendered(s).alert for s in self.states.values() if s.alert.status == "firing"]

    def state_of(self, fp: str) -> AlertState:
        try:
            return self.states[fp]
        except KeyError:
            raise AlertPolicyError(f"unknown alert {fp!r}") from None

    # -- persistence ---------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Everything needed to resume after a restart, as JSON-able data."""
        return {"version": 1, "states": {fp: s.to_dict() for fp, s in self.states.items()},
                "groups": {k: g.to_dict() for k, g in self.groups.items()},
                "flaps": self.flaps.export(), "feedback": self.feedback.export()}

    def import_state(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise AlertPolicyError("unknown alert policy state format")
        try:
            self.states = {fp: AlertState.from_dict(s) for fp, s in data["states"].items()}
            self.groups = {k: AlertGroup.from_dict(g) for k, g in data["groups"].items()}
        except (KeyError, TypeError) as exc:
            raise AlertPolicyError(f"broken alert policy state: {exc}") from None
        self._by_series = {}
        for fp, state in self.states.items():
            self._by_series.setdefault(state.series_id, set()).add(fp)
        self.flaps.import_(data.get("flaps", {}))
        self.feedback.import_(data.get("feedback", {}))

    # -- internals -----------------------------------------------------------

    def _check(self, anomaly: Anomaly) -> None:
        if not isinstance(anomaly, Anomaly):
            raise AlertPolicyError(f"expected an Anomaly, got {type(anomaly).__name__}")
        if not (isinstance(anomaly.score, (int, float)) and 0.0 <= anomaly.score <= 1.0):
            raise AlertPolicyError(f"anomaly {anomaly.id}: score must be within [0, 1], got {anomaly.score!r}")
        if not (isinstance(anomaly.time, (int, float)) and math.isfinite(anomaly.time)):
            raise AlertPolicyError(f"anomaly {anomaly.id}: time must be a finite number")
        if not isinstance(anomaly.labels, dict):
            raise AlertPolicyError(f"anomaly {anomaly.id}: labels must be a mapping")

    def _inhibition(self) -> InhibitIndex:
        firing = [self.match_labels(s.alert) for s in self.states.values() if s.alert.status == "firing"]
        return self.inhibitor.index(firing)

    def _place(self, alert: Alert, now: float) -> None:
        labels = self.match_labels(alert)
        for route in self.routes.match(labels):
            glabels = route.group_labels(labels)
            key = group_key(route.id, glabels)
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = AlertGroup(
                    receiver=route.receiver, route_id=route.id, labels=glabels, group_wait_s=route.group_wait_s,
                    group_interval_s=route.group_interval_s, repeat_interval_s=route.repeat_interval_s, now=now)
            group.add(alert.fingerprint)

    def _rendered(self, state: AlertState) -> AlertState:
        """Fill the annotations from the latest anomaly (done when needed, not on every anomaly)."""
        if state.latest is not None:
            state.alert.annotations = self._annotations(state.alert, state.latest, state.alert.updated_at)
            state.latest = None
        if state.peak_surprise is not None:
            state.alert.annotations["surprise"] = describe_surprise(state.peak_surprise)
        return state

    def _annotations(self, alert: Alert, anomaly: Anomaly, now: float) -> dict[str, str]:
        cfg = self.config.policy
        values = {**alert.labels, "severity": alert.severity, "score": f"{alert.score:.3f}",
                  "reason": anomaly.reason or anomaly.message or "", "observed_vs_expected":
                  observed_vs_expected(anomaly), "fingerprint": alert.fingerprint, "anomaly_id": anomaly.id}
        notes = {"summary": render(cfg.summary, values), "description": render(cfg.description, values).strip(),
                 "observed_vs_expected": values["observed_vs_expected"]}
        if anomaly.detectors:
            notes["detectors"] = detectors_that_fired(anomaly)
        if cfg.runbook_url:
            notes["runbook_url"] = render_url(cfg.runbook_url, values)
        if cfg.dashboard_url:
            notes["dashboard_url"] = render_url(cfg.dashboard_url, values)
        recipients = sorted({r.receiver for r in self.routes.match(self.match_labels(alert))})
        token = self.signer.sign({"fp": alert.fingerprint, "series_id": anomaly.series_id,
                                  "id": uuid.uuid4().hex[:16], "to": ",".join(recipients)},
                                 expires_at=now + self.config.feedback.link_ttl_s)
        base = self.config.api_url.rstrip("/")
        notes["feedback_false_positive_url"] = f"{base}/feedback/{token}?verdict=false_positive"
        notes["feedback_true_positive_url"] = f"{base}/feedback/{token}?verdict=true_positive"
        for kept in ("flapping", "ended"):  # set by the policy itself, not rendered from the anomaly
            if alert.annotations.get(kept):
                notes[kept] = alert.annotations[kept]
        return notes

    def _resolve(self, now: float) -> None:
        cfg = self.config.policy
        silence_after = cfg.resolve_after_silence_s or cfg.resolve_after_s
        for fp, state in self.states.items():
            alert = state.alert
            if alert.status != "firing":
                continue
            ended = state.ended is not None and (self._told(fp) or bool(self.muted_by(alert, now)))
            normal = (ended
                      or state.normal_until >= state.last_anomaly_time + cfg.resolve_after_s
                      or now >= state.last_seen_at + silence_after)
            if not normal:
                continue
            if self.flaps.is_flapping(fp, now):
                if not state.held_flapping:
                    state.held_flapping = True
                    changes = self.flaps.changes(fp, now)
                    alert.annotations["flapping"] = (
                        f"changed state {changes} times in {cfg.flapping.window_s:.0f}s; held firing until stable")
                    log.info("alert.flapping_held", fingerprint=fp, changes=changes)
                continue
            alert.status, alert.ends_at, alert.updated_at = "resolved", now, now
            state.held_flapping = False
            alert.annotations.pop("flapping", None)
            self.flaps.record(fp, now)
            log.info("alert.resolved", fingerprint=fp)
            self._place(alert, now)

    def _told(self, fp: str) -> bool:
        """Whether some group has sent this alert as firing (an episode that ended before then still pages once)."""
        return any(fp in group.notified_firing for group in self.groups.values())

    def _forget_old(self, now: float) -> None:
        in_groups = set().union(*(g.fingerprints for g in self.groups.values())) if self.groups else set()
        horizon = self.config.policy.flapping.window_s
        for fp in [fp for fp, s in self.states.items()
                   if s.alert.status == "resolved" and fp not in in_groups and now - (s.alert.ends_at or now) > horizon]:
            series = self.states.pop(fp).series_id
            self._by_series.get(series, set()).discard(fp)
            if not self._by_series.get(series):
                self._by_series.pop(series, None)
            self.flaps.forget(fp)
        self.feedback.forget_older_than(now)
