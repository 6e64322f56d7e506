"""Settings of alerting: policy, routes, receivers (sinks), silences, inhibition,
maintenance windows, feedback and remediation.

>>> c = AlertingConfig.model_validate({
...     "route": {"receiver": "ops", "group_by": ["host"],
...               "routes": [{"matchers": ["severity=critical"], "receiver": "pager"}]},
...     "receivers": [{"name": "ops", "sinks": [{"type": "console"}]}, {"name": "pager"}]})
>>> c.route.routes[0].receiver, c.route.group_wait_s, type(c.receivers[0].sinks[0]).__name__
('pager', 30.0, 'ConsoleSinkConfig')
>>> AlertingConfig.model_validate({"route": {"receiver": "nobody"}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for AlertingConfig
...
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aiops.alerting.auth import ApiConfig
from aiops.alerting.delivery import DeliveryConfig
from aiops.alerting.matchers import check_matchers
from aiops.alerting.remediation.config import RemediationConfig
from aiops.alerting.sinks.registry import SinkConfigByType


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``90s``, ``15m``, ``2h``, ``1d``.

    >>> parse_duration("2h"), parse_duration(30), parse_duration("1.5m")
    (7200.0, 30.0, 90.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    found = _DURATION.match(str(value))
    if not found:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h)")
    number, unit = found.groups()
    return float(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit or "s"]


class FlappingConfig(_Model):
    """An alert that changes state more than ``max_changes`` times in ``window_s`` is held firing."""

    enabled: bool = Field(True, description="hold flapping alerts firing")
    max_changes: int = Field(4, ge=1, description="state changes in the window that make an alert flapping")
    window_s: float = Field(3600.0, gt=0, description="length of the window")


class PolicyConfig(_Model):
    """How anomalies become alerts."""

    alertname: str = Field("AnomalyDetected", description="value of the alertname label of every alert")
    identifying_labels: list[str] | None = Field(
        None, description="entity labels copied into alert labels (and so the fingerprint); None: all")
    resolve_after_s: float = Field(300.0, gt=0, description="normal this long (event time) resolves an alert")
    resolve_after_silence_s: float | None = Field(
        None, gt=0, description="no anomaly for this long (processing time) resolves; None: resolve_after_s")
    critical_score: float = Field(0.995, ge=0, le=1, description="calibrated score from which an alert is critical")
    error_score: float = Field(0.95, ge=0, le=1,
            description="calibrated score from which an alert is error (below: warning)")
    summary: str = Field("{alertname}: {series_id} {kind} anomaly ({severity})",
            description="template of the summary annotation ({label} placeholders)")
    description: str = Field("{observed_vs_expected}. {reason}",
            description="template of the description annotation ({label} placeholders)")
    runbook_url: str | None = Field(None, description='template, e.g. "https://runbooks/{service}"')
    dashboard_url: str | None = Field(None, description='template, e.g. "https://grafana/d/x?var-host={host}"')
    max_anomaly_ids: int = Field(50, ge=1, description="anomaly ids kept per alert")
    max_age_s: float | None = Field(
        None, gt=0, description="anomalies older than this (event time) on arrival are counted, not alerted: "
                                "a replay or backfill does not page")
    flapping: FlappingConfig = FlappingConfig()


class RouteConfig(_Model):
    """One node of the routing tree; unset fields inherit from the parent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    receiver: str | None = Field(None, description="receiver of the alerts this route matches (null: the parent's)")
    matchers: list[str] = Field(default_factory=list,
            description="label matchers that must all hold: name=value, name!=value, name=~regex, name!~regex")
    group_by: list[str] | None = Field(None,
            description="labels that split alerts into notification groups (null: the parent's)")
    group_wait_s: float | None = Field(None, ge=0,
            description="wait before a new group's first notification (null: the parent's)")
    group_interval_s: float | None = Field(None, gt=0,
            description="wait before notifying a group of changes (null: the parent's)")
    repeat_interval_s: float | None = Field(None, gt=0,
            description="wait before re-sending a group that did not change (null: the parent's)")
    continue_: bool = Field(False, alias="continue", description="after this route matched, keep trying its siblings")
    routes: list[RouteConfig] = Field(default_factory=list,
            description="child routes, tried in order; the first that matches takes the alert")

    _matchers = field_validator("matchers")(check_matchers)

    def receivers(self) -> set[str]:
        names = {self.receiver} if self.receiver else set()
        for child in self.routes:
            names |= child.receivers()
        return names


class RootRouteConfig(RouteConfig):
    """The root route: matches everything and sets every default."""

    receiver: str = Field("default", description="receiver of the alerts no child route takes")
    group_by: list[str] = Field(default_factory=lambda: ["alertname"],
            description="labels that split alerts into notification groups (child routes inherit it)")
    group_wait_s: float = Field(30.0, ge=0, description="wait before a new group's first notification")
    group_interval_s: float = Field(300.0, gt=0, description="wait before notifying a group of changes")
    repeat_interval_s: float = Field(4 * 3600.0, gt=0,
            description="wait before re-sending a group that did not change")


class ReceiverConfig(_Model):
    """A named destination: one or more sinks that each get the receiver's notifications.

    Each sink entry is validated by its own model (``type`` picks it).
    """

    name: str = Field(min_length=1, description="the name routes use")
    sinks: list[SinkConfigByType] = Field(default_factory=list,
            description="where its notifications go; each item picks a sink by type")


class InhibitRuleConfig(_Model):
    """A firing source alert mutes target alerts that share the ``equal`` labels."""

    source_matchers: list[str] = Field(min_length=1, description="matchers of the firing alert that mutes")
    target_matchers: list[str] = Field(min_length=1, description="matchers of the alerts it mutes")
    equal: list[str] = Field(default_factory=list, description="labels the two must share")

    _matchers = field_validator("source_matchers", "target_matchers")(check_matchers)


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MaintenanceWindowConfig(_Model):
    """A recurring weekly window: ``days`` + ``start`` + ``duration`` in ``tz``, or a ``cron`` line.

    ``cron`` is ``"MIN HOUR * * DOW"`` (DOW 0-7, names, lists and ranges) and
    needs ``duration`` too.
    """

    name: str = Field(description="the window's name")
    matchers: list[str] = Field(default_factory=list,
            description="label matchers of the series and alerts it covers (empty: all)")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(default_factory=list,
            description="weekdays it starts on (with start)")
    start: str | None = Field(None, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$",
            description="start time HH:MM in tz (with days)")
    cron: str | None = Field(None, description="or a cron line \"MIN HOUR * * DOW\" for its start")
    duration: float = Field(description="how long it lasts: seconds, or 90s, 15m, 2h, 1d (at most 7d)")
    tz: str = Field("UTC", description="IANA time zone of start and cron")
    mute_alerts: bool = Field(True, description="alerts of the covered series are not notified")
    pause_learning: bool = Field(True, description="detectors do not learn from the covered series")

    _matchers = field_validator("matchers")(check_matchers)

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if not 0 < seconds <= 7 * 86400:
            raise ValueError("duration must be within (0, 7d]")
        return seconds

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> MaintenanceWindowConfig:
        if (self.cron is None) == (self.start is None):
            raise ValueError("give either cron or days+start")
        if self.cron is None and not self.days:
            raise ValueError("days must not be empty")
        if self.cron is not None:
            from aiops.alerting.maintenance import parse_cron

            parse_cron(self.cron)
        return self


class SilencesConfig(_Model):
    path: str | None = Field(None, description="JSON file the silences persist to; None: memory only")


class FeedbackConfig(_Model):
    """Feedback links and what a false positive does."""

    secret: SecretStr | None = Field(None, description="HMAC key of feedback links; None: random per process")
    link_ttl_s: float = Field(7 * 86400.0, gt=0, description="feedback and approval links expire after this")
    suppress_repeat_s: float = Field(3600.0, ge=0, description="after a false positive, identical repeats are dropped")
    downgrade_for_s: float = Field(7 * 86400.0, ge=0, description="after that, severity is lowered this long")
    downgrade_steps: int = Field(1, ge=0, le=3,
            description="severity levels an alert's repeats are lowered by after a false positive")


class AlertingConfig(_Model):
    """The ``alerting`` section of the configuration file."""

    api_url: str = Field("http://127.0.0.1:6066", description="public URL of the alerting API (feedback links)")
    policy: PolicyConfig = PolicyConfig()
    route: RootRouteConfig = RootRouteConfig()
    receivers: list[ReceiverConfig] = Field(default_factory=lambda: [ReceiverConfig.model_validate(
        {"name": "default", "sinks": [{"type": "console"}]})],
            description="named destinations of notifications; routes name them")
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=list, description="firing alerts that mute others")
    maintenance: list[MaintenanceWindowConfig] = Field(default_factory=list,
            description="recurring maintenance windows")
    silences: SilencesConfig = Field(SilencesConfig(), description="where silences are kept")
    feedback: FeedbackConfig = FeedbackConfig()
    remediation: RemediationConfig = RemediationConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    api: ApiConfig = ApiConfig()

    @model_validator(mode="after")
    def _receivers_exist(self) -> AlertingConfig:
        names = [r.name for r in self.receivers]
        if len(set(names)) != len(names):
            raise ValueError("receiver names must be unique")
        missing = self.route.receivers() - set(names)
        if missing:
            raise ValueError(f"routes name unknown receivers: {', '.join(sorted(missing))}")
        return self
