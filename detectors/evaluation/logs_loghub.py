"""The BGL settings on the other loghub samples: how many lines they flag where alerts are (almost) absent.

Only BGL and Thunderbird label their lines, and Thunderbird_2k's 2,000 are all
normal; the other samples carry no labels. Flagged lines there are an upper
bound on false alarms, not a measure of recall. Each sample is read from its
parsed CSV (level, component, message), one source per component, times one
second apart (the settings under test count lines, not seconds).

>>> level_of("FATAL"), level_of("E"), level_of("[error]"), level_of("notice")
('critical', 'error', 'error', 'info')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiops.detectors.core.shapes import Event, series_id_for
from aiops.detectors.evaluation.logs_bgl import LINE_KINDS, run_bgl
from aiops.detectors.evaluation.templates_accuracy import structured_rows
from aiops.detectors.logs.config import LogsConfig

SYSTEMS = ("Thunderbird", "Android", "Apache", "HDFS", "Hadoop", "OpenStack", "Spark", "Windows", "Zookeeper")
_LEVELS = {
    "fatal": "critical",
    "f": "critical",
    "critical": "critical",
    "crit": "critical",
    "emerg": "critical",
    "alert": "critical",
    "error": "error",
    "err": "error",
    "e": "error",
    "severe": "error",
    "warn": "warning",
    "warning": "warning",
    "w": "warning",
}


def level_of(raw: str) -> str:
    """The product's level for a sample's level field (unknown or missing: info)."""
    return _LEVELS.get(raw.strip().strip("[]").lower(), "info")


@dataclass(slots=True)
class SampleFlags:
    system: str
    lines: int
    error_lines: int
    alert_lines: int
    flagged: int
    flagged_alerts: int
    flagged_by_any: int


def read_sample(data: Path, system: str) -> tuple[list[bool], list[Event]]:
    """Labels (all normal where the sample has none) and log events of one loghub sample, in order."""
    _, rows = structured_rows(data, system, errors="replace")
    truth: list[bool] = []
    events: list[Event] = []
    for i, row in enumerate(rows):
        labels = {"host": system.lower(), "service": row.get("Component") or system}
        level = level_of(row.get("Level") or "")
        events.append(
            Event("log", series_id_for("log", labels), labels, 1e9 + i, {}, message=row.get("Content", ""), level=level)
        )
        truth.append((row.get("Label") or "-") != "-")
    return truth, events


def sample_flags(data: Path, system: str, config: LogsConfig, kinds: tuple[str, ...]) -> SampleFlags:
    """Lines of one sample flagged by ``kinds`` (and by any line detector) under ``config``, fed online."""
    truth, events = read_sample(data, system)
    verdicts = run_bgl(truth, events, config)
    d, every = verdicts.detection(kinds), verdicts.detection(LINE_KINDS)
    errors = sum(1 for e in events if e.level in ("error", "critical"))
    return SampleFlags(system, d.lines, errors, d.alerts, d.flagged, d.true_positives, every.flagged)
