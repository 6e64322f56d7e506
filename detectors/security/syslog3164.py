"""A small reader of RFC 3164 syslog lines without the ``<PRI>`` part, as files on disk hold them.

``Mmm dd hh:mm:ss host program[pid]: message``. The year is not in the line,
so it is given (default: the current UTC year).

>>> line = parse_syslog_line("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186", year=2017)
>>> line.host, line.program, line.pid, line.message
('LabSZ', 'sshd', 24200, 'Invalid user webmaster from 173.234.31.186')
>>> to_log_event(line).series_id
'log|host=LabSZ,service=sshd'
>>> parse_syslog_line("garbage")
Traceback (most recent call last):
...
aiops.detectors.core.errors.InputError: not a syslog line: 'garbage'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, series_id_for

_LINE = re.compile(
    r"^(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<clock>\d{2}:\d{2}:\d{2}) (?P<host>\S+) "
    r"(?P<program>[^\s\[:]+(?:\([^)]*\))?)(?:\[(?P<pid>\d+)\])?: ?(?P<message>.*)$"
)
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


@dataclass(slots=True, frozen=True)
class SyslogLine:
    time: float
    host: str
    program: str
    pid: int | None
    message: str


def parse_syslog_line(line: str, *, year: int | None = None) -> SyslogLine:
    found = _LINE.match(line.rstrip("\r\n"))
    if found is None or found["month"] not in _MONTHS:
        raise InputError(f"not a syslog line: {line[:80]!r}")
    hour, minute, second = (int(x) for x in found["clock"].split(":"))
    try:
        stamp = datetime(
            year or datetime.now(timezone.utc).year, _MONTHS[found["month"]], int(found["day"]),
            hour, minute, second, tzinfo=timezone.utc,
        )
    except ValueError as exc:
        raise InputError(f"bad syslog time in {line[:80]!r}: {exc}") from None
    return SyslogLine(
        time=stamp.timestamp(),
        host=found["host"],
        program=found["program"],
        pid=int(found["pid"]) if found["pid"] else None,
        message=found["message"].rstrip(),
    )


def to_log_event(line: SyslogLine, *, level: str = "info") -> Event:
    """The normalised log event of a syslog line (labels host and service = program)."""
    labels = {"host": line.host, "service": line.program}
    return Event(
        source="log",
        series_id=series_id_for("log", labels),
        labels=labels,
        time=line.time,
        features={},
        message=line.message,
        level=level,
    )
