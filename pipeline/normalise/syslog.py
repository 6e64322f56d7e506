"""Raw syslog lines: RFC 5424, RFC 3164 (with or without PRI), and rsyslog's file format.

RFC 3164 stamps carry no year and no zone: the year is the one of ``now``
(the previous one when that would put the line more than a day ahead), the
zone is the configured default. Without a PRI, as in plain /var/log files,
the level is unknown and counts as ``info``.

>>> r = parse_syslog("<34>1 2026-11-22T10:00:00.5Z web-1 sshd 4242 ID47 - Failed password", now=0.0)
>>> r.host, r.service, r.level, r.time, r.message
('web-1', 'sshd', 'critical', 1795341600.5, 'Failed password')
>>> from aiops.pipeline.normalise.timestamps import iso
>>> r = parse_syslog("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown",
...                  now=1_780_000_000.0)  # late May 2026: June 14 is last year's
>>> r.host, r.service, r.level, iso(r.time), r.message
('combo', 'sshd', 'info', '2025-06-14T15:16:01.000Z', 'check pass; user unknown')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from aiops.detectors.core.errors import InputError
from aiops.pipeline.normalise.formats import NoParams
from aiops.pipeline.normalise.levels import DEFAULT_LEVEL, syslog_level
from aiops.pipeline.normalise.records import LogLine
from aiops.pipeline.normalise.timestamps import BadTimestamp, parse_iso


class BadSyslog(InputError):
    """A line that is neither RFC 5424 nor RFC 3164 syslog."""


@dataclass(slots=True)
class SyslogRecord:
    """What one syslog line says; empty strings where the line leaves a part out."""

    host: str
    service: str
    level: str
    time: float
    message: str
    pid: str = ""


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_PRI = re.compile(r"<(\d{1,3})>")
_RFC5424 = re.compile(r"1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
_BSD_STAMP = re.compile(r"([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? +")
_ISO_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\S+) +")
_TAG_ONLY = re.compile(r"[^\s\[:]+(?:\[[^\]\s]*\])?:(?: |$)")
_TAG = re.compile(r"([^\s\[:]+)(?:\[([^\]\s]*)\])?:? ?")
_YEAR_AHEAD_S = 86400.0


def parse_syslog(line: str, *, now: float, zone: tzinfo = UTC) -> SyslogRecord:
    """Host, service (app name or tag), level (from PRI), time and message of one line."""
    level = DEFAULT_LEVEL
    pos = 0
    pri = _PRI.match(line)
    if pri:
        value = int(pri.group(1))
        if value > 191:
            raise BadSyslog(f"PRI {value} is out of range 0..191")
        level = syslog_level(value)
        pos = pri.end()
        full = _RFC5424.match(line, pos)
        if full:
            return _rfc5424(line, full, level, now)
    return _rfc3164(line, pos, level, now, zone)


def _rfc5424(line: str, match: re.Match[str], level: str, now: float) -> SyslogRecord:
    stamp, host, app, pid = match.group(1), match.group(2), match.group(3), match.group(4)
    time = now if stamp == "-" else _rfc3339(stamp)
    rest = _skip_structured_data(line, match.end())
    message = rest[1:] if rest.startswith(" ") else rest
    return SyslogRecord(_nil(host), _nil(app), level, time, message.lstrip("\ufeff"), _nil(pid))


def _rfc3164(line: str, pos: int, level: str, now: float, zone: tzinfo) -> SyslogRecord:
    stamp = _BSD_STAMP.match(line, pos)
    if stamp:
        time = _bsd_time_cached(stamp.group(0), int(now // 3600), zone) if _sane(now) else _bsd_time(stamp, now, zone)
    else:
        stamp = _ISO_STAMP.match(line, pos)
        if not stamp:
            raise BadSyslog(f"not syslog (RFC 5424 or 3164): {_short(line)}")
        time = _rfc3339(stamp.group(1), zone)
    rest = line[stamp.end():]
    host = ""
    if not _TAG_ONLY.match(rest):
        host, _, rest = rest.partition(" ")
        rest = rest.lstrip(" ")
    if not host and not rest:
        raise BadSyslog(f"syslog line has no host nor message: {_short(line)}")
    tag = _TAG.match(rest)
    service = pid = ""
    if tag and any(c.isalnum() for c in tag.group(1)):
        service = _without_module(tag.group(1))
        pid = tag.group(2) or ""
        rest = rest[tag.end():]
    return SyslogRecord(host, service, level, time, rest, pid)


@lru_cache(maxsize=4096)
def _bsd_time_cached(text: str, hour: int, zone: tzinfo) -> float:
    """``_bsd_time`` memoised per stamp text and hour of ``now`` (lines of a batch share stamps)."""
    match = _BSD_STAMP.match(text)
    assert match is not None
    return _bsd_time(match, hour * 3600.0, zone)


def _bsd_time(stamp: re.Match[str], now: float, zone: tzinfo) -> float:
    month = _MONTHS.get(stamp.group(1).lower())
    if month is None:
        raise BadSyslog(f"unknown month {stamp.group(1)!r}")
    day, hour, minute, second = (int(stamp.group(i)) for i in range(2, 6))
    year = datetime.fromtimestamp(now, UTC).astimezone(zone).year if _sane(now) else 1970
    for candidate in (year, year - 1):
        try:
            moment = datetime(candidate, month, day, hour, minute, second, tzinfo=zone)
        except ValueError:
            continue
        if moment.timestamp() <= now + _YEAR_AHEAD_S or candidate < year:
            return moment.timestamp()
    raise BadSyslog(f"'{stamp.group(0).strip()}' is not a valid date in {year - 1} or {year}")


def _without_module(tag: str) -> str:
    """``sshd(pam_unix)`` -> ``sshd``: the program, not the module that logged for it."""
    if tag.endswith(")") and "(" in tag[1:]:
        return tag[: tag.index("(", 1)]
    return tag


def _rfc3339(text: str, zone: tzinfo = UTC) -> float:
    try:
        return parse_iso(text, zone)
    except BadTimestamp as exc:
        raise BadSyslog(str(exc)) from None


def _skip_structured_data(line: str, i: int) -> str:
    """The text after the STRUCTURED-DATA part starting at ``i`` ('-' or [id k="v"...]...)."""
    if line.startswith("-", i):
        return line[i + 1:]
    end = len(line)
    if i >= end or line[i] != "[":
        raise BadSyslog("structured data must be '-' or start with '['")
    while i < end and line[i] == "[":
        i += 1
        quoted = False
        while i < end:
            char = line[i]
            if char == "\\" and quoted:
                i += 2
                continue
            if char == '"':
                quoted = not quoted
            elif char == "]" and not quoted:
                break
            i += 1
        if i >= end:
            raise BadSyslog("structured data element has no closing ']'")
        i += 1
    return line[i:]


def _sane(now: float) -> bool:
    return -62_135_596_800.0 < now < 253_402_300_799.0


def _nil(value: str) -> str:
    return "" if value == "-" else value


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class SyslogFormat:
    """The ``syslog`` input format: every line is syslog (RFC 5424, RFC 3164 or rsyslog's file format)."""

    kind = "logs"
    Params = NoParams

    def __init__(self, params: NoParams) -> None:
        self.params = params

    def parse_line(self, text: str, *, now: float, zone: tzinfo) -> LogLine:
        r = parse_syslog(text, now=now, zone=zone)
        return LogLine(r.message, host=r.host, service=r.service, level=r.level, time=r.time, pid=r.pid)
