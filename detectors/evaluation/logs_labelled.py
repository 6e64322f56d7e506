"""Labelled log files of any origin as log events: what ``aiops logs backtest`` reads.

Three shapes are read:

- ``csv``: loghub's structured CSV (``Content``, and ``Level``, ``Component``
  and ``Label`` when present) or any CSV with a ``Content`` or ``message``
  column; labels from ``column:NAME`` (default: a ``Label`` column);
- ``bgl``: BGL and Thunderbird raw lines (label, epoch, ... component level
  message), labels from the first field;
- ``lines``: one message per line; the level is the first level word found
  (``ERROR``, ``WARN``, ``FATAL``...), the time the first ISO, syslog or epoch
  timestamp found (else one second per line); labels from a file with one
  label per line, or ``first-field``.

A label of ``-``, ``0``, ``normal``, ``false`` or empty is normal; anything
else is anomalous.

>>> is_anomalous("-"), is_anomalous("KERNDTLB"), is_anomalous("0"), is_anomalous("1")
(False, True, False, True)
>>> level_in("2024-01-01 10:00:00 ERROR db: connection lost"), level_in("all good")
('error', 'info')
>>> time_in("2024-01-01 10:00:00 ERROR x") == 1704103200.0, time_in("Jun 14 15:16:01 combo sshd") is not None
(True, True)
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timezone
from pathlib import Path

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, series_id_for
from aiops.detectors.evaluation.logs_bgl import parse_bgl_fields
from aiops.detectors.evaluation.logs_loghub import level_of

_NORMAL = frozenset({"", "-", "0", "normal", "false", "no", "ok"})
_LEVEL = re.compile(
    r"\b(FATAL|CRITICAL|CRIT|EMERG|ALERT|PANIC|SEVERE|ERROR|ERR|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE)\b", re.I
)
_LEVELS = {"fatal": "critical", "critical": "critical", "crit": "critical", "emerg": "critical",
           "alert": "critical", "panic": "critical", "severe": "error", "error": "error", "err": "error",
           "warning": "warning", "warn": "warning", "debug": "debug", "trace": "debug"}
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})")
_SYSLOG = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})")
_EPOCH = re.compile(r"(?<!\d)(1[0-9]{9})(?!\d)")
_MONTHS = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}


def is_anomalous(label: str) -> bool:
    return label.strip().lower() not in _NORMAL


def level_in(text: str) -> str:
    """The product's level for the first level word of a line (info when there is none)."""
    found = _LEVEL.search(text)
    return _LEVELS.get(found.group(1).lower(), "info") if found else "info"


def time_in(text: str, year: int = 2000) -> float | None:
    """Epoch seconds of the first ISO, syslog (in ``year``) or 10-digit epoch timestamp of a line."""
    found = _ISO.search(text)
    if found:
        y, mo, d, h, mi, sec = map(int, found.groups())
        return datetime(y, mo, d, h, mi, sec, tzinfo=timezone.utc).timestamp()
    found = _SYSLOG.search(text)
    if found:
        mon, d, h, mi, sec = found.groups()
        return datetime(year, _MONTHS[mon], int(d), int(h), int(mi), int(sec), tzinfo=timezone.utc).timestamp()
    found = _EPOCH.search(text)
    return float(found.group(1)) if found else None


def read_labelled(
    path: Path, *, labels: str | None = None, fmt: str = "auto", service: str | None = None
) -> tuple[list[bool], list[Event]]:
    """Labels and events of a labelled log file, in order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no log file at {path}")
    if fmt == "auto":
        fmt = "csv" if path.suffix == ".csv" else ("bgl" if _looks_like_bgl(path) else "lines")
    if fmt == "csv":
        return _read_csv(path, labels)
    if fmt == "bgl":
        return _read_bgl_like(path)
    return _read_lines(path, labels, service or path.stem)


def _looks_like_bgl(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    try:
        parse_bgl_fields(first)
    except InputError:
        return False
    return True


def _read_bgl_like(path: Path) -> tuple[list[bool], list[Event]]:
    truth: list[bool] = []
    events: list[Event] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not raw.strip():
            continue
        is_alert, level, when, component, content = parse_bgl_fields(raw)
        truth.append(is_alert)
        labels = {"host": path.stem, "service": component}
        events.append(Event("log", series_id_for("log", labels), labels, when, {}, message=content, level=level))
    return truth, events


def _read_csv(path: Path, labels: str | None) -> tuple[list[bool], list[Event]]:
    column = labels.split(":", 1)[1] if labels and labels.startswith("column:") else "Label"
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputError(f"{path} has no rows")
    text = "Content" if "Content" in rows[0] else "message" if "message" in rows[0] else None
    if text is None:
        raise InputError(f"{path} has no Content or message column")
    truth: list[bool] = []
    events: list[Event] = []
    for i, row in enumerate(rows):
        labels_ = {"host": path.stem, "service": row.get("Component") or path.stem}
        level = level_of(row.get("Level") or "") if row.get("Level") else level_in(row[text] or "")
        events.append(Event("log", series_id_for("log", labels_), labels_, 1e9 + i, {},
                            message=row[text] or "", level=level))
        truth.append(is_anomalous(row.get(column) or "-"))
    return truth, events


def _read_lines(path: Path, labels: str | None, service: str) -> tuple[list[bool], list[Event]]:
    lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    given: list[str] | None = None
    if labels and labels != "first-field":
        given = [x.strip() for x in Path(labels).read_text(encoding="utf-8").splitlines()]
        if len(given) < len(lines):
            raise InputError(f"{labels} has {len(given)} labels for {len(lines)} lines")
    truth: list[bool] = []
    events: list[Event] = []
    tags = {"host": path.stem, "service": service}
    sid = series_id_for("log", tags)
    last = 1e9
    for i, line in enumerate(lines):
        label = "-"
        if labels == "first-field":
            label, _, line = line.partition(" ")
        elif given is not None:
            label = given[i]
        when = time_in(line)
        last = when if when is not None else last + 1.0
        truth.append(is_anomalous(label))
        events.append(Event("log", sid, dict(tags), last, {}, message=line, level=level_in(line)))
    return truth, events
