"""Recurring maintenance windows: alerts of matched series are muted and the
detectors do not learn from what they see meanwhile.

>>> from aiops.alerting.config import MaintenanceWindowConfig
>>> w = MaintenanceWindowConfig(name="patch", matchers=["host=~db-.*"], days=["sat"],
...                             start="02:00", duration="2h", tz="UTC")
>>> cal = MaintenanceCalendar([w])
>>> sat_0230 = 1_700_274_600.0   # 2023-11-18 02:30 UTC, a Saturday
>>> cal.should_learn({"host": "db-1"}, sat_0230), cal.should_learn({"host": "web-1"}, sat_0230)
(False, True)
>>> cal.should_learn({"host": "db-1"}, sat_0230 + 2 * 3600)
True
>>> parse_cron("30 1 * * sat,sun")
([5, 6], '01:30')
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo

from aiops.alerting.config import DAY_NAMES, MaintenanceWindowConfig
from aiops.alerting.matchers import matches_all, parse_matchers


class CronError(ValueError):
    """A cron line that this weekly schedule cannot express."""


def _cron_day(token: str) -> int:
    token = token.strip().lower()
    if token[:3] in DAY_NAMES:
        return DAY_NAMES.index(token[:3])
    if not token.isdigit() or int(token) > 7:
        raise CronError(f"bad day of week {token!r}")
    return (int(token) - 1) % 7  # cron: 0 and 7 are Sunday, 1 Monday


def parse_cron(line: str) -> tuple[list[int], str]:
    """Weekdays (0 = Monday) and ``HH:MM`` of a ``"MIN HOUR * * DOW"`` line."""
    fields = line.split()
    if len(fields) != 5:
        raise CronError(f"cron {line!r}: need 5 fields MIN HOUR DOM MON DOW")
    minute, hour, dom, month, dow = fields
    if dom != "*" or month != "*":
        raise CronError(f"cron {line!r}: only weekly schedules (DOM and MON must be *)")
    if not (minute.isdigit() and int(minute) < 60 and hour.isdigit() and int(hour) < 24):
        raise CronError(f"cron {line!r}: MIN and HOUR must be single numbers")
    days: set[int] = set()
    for part in dow.split(","):
        if part == "*":
            days.update(range(7))
        elif "-" in part:
            lo, hi = (_cron_day(p) for p in part.split("-", 1))
            lo_raw = part.split("-", 1)[0].strip()
            if lo_raw == "0":
                lo = 6
            span = range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)]
            days.update(span)
        else:
            days.add(_cron_day(part))
    return sorted(days), f"{int(hour):02d}:{int(minute):02d}"


class MaintenanceWindow:
    """One configured window, resolved to weekdays, a start time and a zone."""

    def __init__(self, config: MaintenanceWindowConfig) -> None:
        self.config = config
        self.name = config.name
        self.matchers = parse_matchers(config.matchers)
        if config.cron is not None:
            self.days, start = parse_cron(config.cron)
        else:
            self.days, start = [DAY_NAMES.index(d) for d in config.days], config.start or "00:00"
        hour, minute = start.split(":")
        self.start = (int(hour), int(minute))
        self.zone = ZoneInfo(config.tz)
        self.duration = timedelta(seconds=config.duration)

    def active_at(self, time: float) -> bool:
        """Is ``time`` (epoch seconds) inside an occurrence of this window?"""
        local = datetime.fromtimestamp(time, self.zone)
        span_days = int(self.duration.total_seconds() // 86400) + 1
        for back in range(span_days + 1):
            day = (local - timedelta(days=back)).date()
            if day.weekday() not in self.days:
                continue
            begins = datetime(day.year, day.month, day.day, *self.start, tzinfo=self.zone)
            if begins.timestamp() <= time < begins.timestamp() + self.duration.total_seconds():
                return True
        return False

    def applies(self, labels: Mapping[str, str], time: float) -> bool:
        return matches_all(self.matchers, labels) and self.active_at(time)


class MaintenanceCalendar:
    """All windows; the policy asks ``muted_by`` and the worker asks ``should_learn``."""

    def __init__(self, windows: Sequence[MaintenanceWindowConfig] = ()) -> None:
        self.windows = [MaintenanceWindow(w) for w in windows]

    def muted_by(self, labels: Mapping[str, str], time: float) -> list[str]:
        """Names of the active windows that mute alerts with these labels."""
        return [w.name for w in self.windows if w.config.mute_alerts and w.applies(labels, time)]

    def should_learn(self, labels: Mapping[str, str], time: float) -> bool:
        """False while a window that pauses learning covers this series."""
        return not any(w.config.pause_learning and w.applies(labels, time) for w in self.windows)
