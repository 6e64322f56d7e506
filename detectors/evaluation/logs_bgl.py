"""Alert-line detection on the labelled BGL sample: precision, recall, F1.

Every line is turned into a log event (host ``bgl``, service = the BGL
component: KERNEL, APP, MMCS...; one source per component, as the worker
keys logs by host and service), fed in order to ``LogIntelligence``, and counts as flagged when a line detector
flagged it at the moment it arrived. The label (first field: ``-`` normal,
anything else an alert category) is read only to count the result.

>>> parse_bgl_line("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
...                "R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected")
(False, 'info', 1117838570.0, 'instruction cache parity error corrected')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, series_id_for
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.intelligence import LogIntelligence

LEVELS = {
    "FATAL": "critical",
    "FAILURE": "critical",
    "SEVERE": "error",
    "ERROR": "error",
    "WARNING": "warning",
    "INFO": "info",
}
LINE_KINDS = ("new_template", "rare_template", "sequence", "parameter", "error_burst", "template_burst")


def parse_bgl_line(line: str) -> tuple[bool, str, float, str]:
    """(is_alert, level, epoch seconds, content) of one raw BGL line."""
    is_alert, level, time, _component, content = parse_bgl_fields(line)
    return is_alert, level, time, content


def parse_bgl_fields(line: str) -> tuple[bool, str, float, str, str]:
    """(is_alert, level, epoch seconds, component, content) of one raw BGL line.

    >>> parse_bgl_fields("KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 "
    ...                  "R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error interrupt")[:4]
    (True, 'critical', 1118536327.0, 'KERNEL')
    """
    parts = line.rstrip("\n").split(" ", 9)
    if len(parts) < 10:
        raise InputError(f"not a BGL line: {line[:80]!r}")
    label, epoch, component, level, content = parts[0], parts[1], parts[7], parts[8], parts[9]
    try:
        time = float(epoch)
    except ValueError:
        raise InputError(f"BGL line without an epoch time: {line[:80]!r}") from None
    return label != "-", LEVELS.get(level.upper(), "info"), time, component, content


@dataclass(slots=True)
class Detection:
    lines: int
    alerts: int
    flagged: int
    true_positives: int
    by_kind: dict[str, int]
    window_anomalies: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.alerts if self.alerts else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def read_bgl(path: Path) -> tuple[list[bool], list[Event]]:
    """Labels and log events of a BGL file, in order (one source per component, as the worker keys logs)."""
    truth: list[bool] = []
    events: list[Event] = []
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if not raw.strip():
            continue
        is_alert, level, time, component, content = parse_bgl_fields(raw)
        truth.append(is_alert)
        labels = {"host": "bgl", "service": component}
        events.append(Event("log", series_id_for("log", labels), labels, time, {}, message=content, level=level))
    return truth, events


@dataclass(slots=True)
class LineVerdicts:
    """What log intelligence said about each line, as it arrived: the kinds that flagged it."""

    truth: list[bool]
    kinds: list[frozenset[str]]
    window_anomalies: int
    alerts: list[bool] | None = None  # the line opened an episode (what pages a person)

    def detection(self, kinds: tuple[str, ...] = LINE_KINDS) -> Detection:
        """Counts for a line flagged by any of ``kinds``."""
        wanted = frozenset(kinds)
        flagged = tp = 0
        by_kind: dict[str, int] = {}
        for is_alert, fired in zip(self.truth, self.kinds):
            hit = fired & wanted
            if not hit:
                continue
            flagged += 1
            tp += is_alert
            for k in hit:
                by_kind[k] = by_kind.get(k, 0) + 1
        return Detection(len(self.truth), sum(self.truth), flagged, tp, by_kind, self.window_anomalies)


def run_bgl(
    truth: list[bool],
    events: list[Event],
    config: LogsConfig | None = None,
    *,
    learn_from: list[Event] | None = None,
    reasons: list[str] | None = None,
) -> LineVerdicts:
    """Feed the events in order, in batches as the worker sends them, to a fresh ``LogIntelligence``;
    ``learn_from`` is fed first and only learned (a time split: learn on one part, judge another).
    ``reasons``, when given, receives one line per alert (episode opening) saying why."""
    intelligence = LogIntelligence(config or LogsConfig())
    for start in range(0, len(learn_from or ()), 100):
        batch = (learn_from or [])[start : start + 100]
        intelligence.process(batch, now=batch[-1].time, judge=False)
    kinds: list[frozenset[str]] = []
    alerts: list[bool] = []
    windows = 0
    for start in range(0, len(events), 100):
        batch = events[start : start + 100]
        result = intelligence.process(batch, now=batch[-1].time)
        if reasons is not None:
            reasons.extend(
                f"{a.labels.get('service', a.series_id)} {a.kind}: {a.reason}"
                for a in result.anomalies
                if a.kind in LINE_KINDS
            )
        windows += sum(1 for a in result.anomalies if a.kind == "template_frequency")
        kinds.extend(frozenset(scores) for scores in result.line_scores)
        alerts.extend(result.line_alerts)
    return LineVerdicts(list(truth), kinds, windows, alerts)


def evaluate_bgl(path: Path, config: LogsConfig | None = None, *, kinds: tuple[str, ...] = LINE_KINDS) -> Detection:
    """Run log intelligence over the sample in order and count flagged alert lines."""
    truth, events = read_bgl(path)
    return run_bgl(truth, events, config).detection(kinds)
