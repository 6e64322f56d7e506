"""Backtests: run the scoring engine strictly online over labelled CSV files and measure it.

A file has a ``timestamp`` (or ``datetime``) column, numeric feature columns
and optional label columns (``anomaly``, ``changepoint``, ``label``,
``is_anomaly``), which are never scored. Rows are scored in timestamp order,
each before it is learned from, by the same engine the pipeline runs.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "demo.csv")
>>> rows = ["timestamp,value,anomaly"] + [f"{t},{10 + (t % 5) * 0.1},0" for t in range(300)]
>>> rows[251] = "250,40.0,1"
>>> _ = open(path, "w").write("\\n".join(rows))
>>> frame = read_csv(path)
>>> frame.features, frame.X.shape, int(frame.labels.sum())
(['value'], (300, 1), 1)
>>> from structlog.testing import capture_logs
>>> with capture_logs():
...     run = run_backtest(frame, DetectionConfig(warmup=30))
>>> bool(run.flagged[250]), bool(run.flagged[:250].any()), bool(run.flagged[260:].any())
(True, False, False)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.errors import InputError
from aiops.detectors.engine import build_engine
from aiops.detectors.evaluation.metrics import (
    BinaryMetrics,
    EventMetrics,
    binary_metrics,
    detection_delays,
    event_metrics,
)
from aiops.detectors.evaluation.nab import PROFILES, Sweep, match_labels, windows_from_labels, windows_from_times

TIME_COLUMNS = ("timestamp", "datetime", "time")
LABEL_COLUMNS = ("anomaly", "label", "is_anomaly", "changepoint")


class CSVFormatError(InputError):
    """A backtest file cannot be read as timestamped numeric columns."""


@dataclass
class Frame:
    """A labelled multivariate series read from a file, sorted by time."""

    name: str
    times: np.ndarray
    X: np.ndarray
    features: list[str]
    labels: np.ndarray | None
    stamps: list[str] | None = None  # each row's time as the file wrote it (the scores file writes it back)


@dataclass
class BacktestRun:
    """Per-row results of one online run."""

    frame: Frame
    detectors: list[str]
    score: np.ndarray
    threshold: np.ndarray
    flagged: np.ndarray
    calibrated: np.ndarray
    anomaly_score: np.ndarray  # the surprise of each row given the past, in [0, 1)
    alert: np.ndarray  # True on the row where an episode opens (what pages a person)
    episode: np.ndarray  # the episode id a row belongs to (0: none); ``flagged``: inside one
    trained_rows: int = 0


def _parse_time(value: str, row: int, path: str) -> float:
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CSVFormatError(f"{path}: row {row}: cannot read time {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _number(value: str) -> float:
    text = value.strip()
    if text == "" or text.lower() in ("nan", "null", "none", "na"):
        return math.nan
    return float(text)


def read_csv(path: str | Path, *, sep: str = "auto", label_column: str | None = None) -> Frame:
    """Read a backtest file; ``sep="auto"`` picks whichever of ``; , tab |`` splits the header most."""
    path = str(path)
    try:
        with open(path, newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise CSVFormatError(f"{path}: cannot read: {exc.strerror}") from None
    lines = text.splitlines()
    if not lines:
        raise CSVFormatError(f"{path}: empty file")
    if sep == "auto":
        sep = max([";", ",", "\t", "|"], key=lambda s: lines[0].count(s))
    elif sep == "\\t":
        sep = "\t"
    rows = list(csv.reader(lines, delimiter=sep))
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    time_col = next((lower.index(c) for c in TIME_COLUMNS if c in lower), None)
    if time_col is None:
        raise CSVFormatError(f"{path}: no time column (one of {', '.join(TIME_COLUMNS)}) in header {header}")
    if label_column is not None and label_column not in header:
        raise CSVFormatError(f"{path}: label column {label_column!r} not in header {header}")
    label_col = header.index(label_column) if label_column else next(
        (lower.index(c) for c in LABEL_COLUMNS if c in lower), None)
    skip = {time_col} | {i for i, h in enumerate(lower) if h in LABEL_COLUMNS}
    if label_col is not None:
        skip.add(label_col)
    feature_cols = [i for i in range(len(header)) if i not in skip]
    if not feature_cols:
        raise CSVFormatError(f"{path}: no feature columns besides time and labels")
    body = [r for r in rows[1:] if r and any(c.strip() for c in r)]
    if not body:
        raise CSVFormatError(f"{path}: no data rows")
    times = np.empty(len(body))
    X = np.empty((len(body), len(feature_cols)))
    labels = np.zeros(len(body), dtype=bool) if label_col is not None else None
    for r, row in enumerate(body):
        if len(row) != len(header):
            raise CSVFormatError(f"{path}: row {r + 2} has {len(row)} fields, header has {len(header)}")
        times[r] = _parse_time(row[time_col], r + 2, path)
        try:
            X[r] = [_number(row[c]) for c in feature_cols]
            if labels is not None:
                labels[r] = _number(row[label_col]) > 0  # type: ignore[index]
        except ValueError as exc:
            raise CSVFormatError(f"{path}: row {r + 2}: not a number ({exc})") from None
    if np.isinf(X).any():
        raise CSVFormatError(f"{path}: infinite values")
    order = np.argsort(times, kind="stable")
    stamps = [body[i][time_col].strip() for i in order.tolist()]
    return Frame(Path(path).stem, times[order], X[order], [header[c] for c in feature_cols],
                 None if labels is None else labels[order], stamps)


def run_backtest(frame: Frame, config: DetectionConfig | None = None, *, train: Frame | None = None,
                 series_id: str | None = None) -> BacktestRun:
    """Score every row online (score, then learn unless flagged); ``train`` rows are fed first."""
    return run_backtests([frame], config, train=train, series_ids=None if series_id is None else [series_id])[0]


def run_backtests(frames: Sequence[Frame], config: DetectionConfig | None = None, *, train: Frame | None = None,
                  series_ids: Sequence[str] | None = None,
                  progress: Callable[[int], None] | None = None) -> list[BacktestRun]:
    """Backtest several files at once, each its own series in one engine (the same results as one by one).

    ``progress(n)`` is told the rows scored as it goes (training rows included).
    """
    from aiops.detectors.stepwise import score_in_slices

    engine = build_engine(config)
    sids = list(series_ids) if series_ids is not None else [f"backtest|file={f.name}#{i}" for i, f in enumerate(frames)]
    layouts: dict[tuple[str, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        layouts.setdefault(tuple(frame.features), []).append(i)
    runs: list[BacktestRun | None] = [None] * len(frames)
    for features, members in layouts.items():
        trained = 0
        if train is not None:
            if tuple(train.features) != features:
                raise InputError(f"training file columns {train.features} differ from {list(features)}")
            score_in_slices(engine, [(sids[i], train.times, train.X) for i in members], features, on_rows=progress)
            trained = len(train.times)
        results = score_in_slices(engine, [(sids[i], frames[i].times, frames[i].X) for i in members], features,
                                  on_rows=progress)
        for i, (names, res) in zip(members, results):
            runs[i] = BacktestRun(frames[i], names, res.score, res.threshold, res.flagged, res.calibrated,
                                  res.anomaly_score, res.alert, res.episode, trained)
    return runs  # type: ignore[return-value]


@dataclass(frozen=True)
class Summary:
    """Point-wise figures of one run (or many added up) and, given its alerts, its event-level figures."""

    metrics: BinaryMetrics
    delays: list[int | None]
    events: EventMetrics | None = None

    def mean_delay(self) -> float:
        caught = [d for d in self.delays if d is not None]
        return float(np.mean(caught)) if caught else math.nan


def summarise(labels: np.ndarray, flagged: np.ndarray, alert: np.ndarray | None = None, *,
              settle: int = 0) -> Summary:
    """Point-wise figures of ``flagged``, and event-level ones of ``alert`` (rows before ``settle`` not judged).

    >>> y = np.array([0] * 6 + [1] * 4 + [0] * 6, dtype=bool)
    >>> flagged = np.zeros(16, dtype=bool); flagged[[2, 7, 8]] = True
    >>> s = summarise(y, flagged, flagged & ~np.roll(flagged, 1))
    >>> s.delays, s.events.found, s.events.false_episodes
    ([1], 1, 1)
    """
    events = None if alert is None else event_metrics(labels, alert, settle=settle)
    return Summary(binary_metrics(labels, flagged), detection_delays(labels, flagged), events)


def _rows(value: float, step_s: float | None) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:g} rows" + (f" ({value * step_s:g} s)" if step_s else "")


def format_summary(name: str, s: Summary, step_s: float | None = None) -> str:
    """One line of point-wise figures, then one of event-level figures when the run's alerts were given."""
    m = s.metrics
    caught = sum(d is not None for d in s.delays)
    delay = s.mean_delay()
    delay_text = "n/a" if math.isnan(delay) else f"{delay:.1f} rows" + (
        f" ({delay * step_s:.1f} s)" if step_s else "")
    line = (f"{name}: precision={m.precision:.3f} recall={m.recall:.3f} F1={m.f1:.3f} FAR={m.far:.2f}% "
            f"MAR={m.mar:.2f}% segments caught={caught}/{len(s.delays)} mean delay={delay_text}")
    return line if s.events is None else line + "\n" + format_events(name, s.events, step_s)


def format_events(name: str, e: EventMetrics, step_s: float | None = None) -> str:
    """Event-level figures: windows found, false-alarm episodes per 10k clean points, median and p90 delay.

    >>> print(format_events("a.csv", EventMetrics(4, 3, (2, 5, 40), 1, 20_000), step_s=60))
    a.csv: events found=3/4 recall=0.750 false episodes=1 (0.50 per 10k clean points) \
delay median=5 rows (300 s) p90=33 rows (1980 s)
    """
    recall = "n/a" if math.isnan(e.recall) else f"{e.recall:.3f}"
    rate = "n/a" if math.isnan(e.false_per_10k) else f"{e.false_per_10k:.2f}"
    return (f"{name}: events found={e.found}/{e.events} recall={recall} false episodes={e.false_episodes} "
            f"({rate} per 10k clean points) delay median={_rows(e.median_delay, step_s)} "
            f"p90={_rows(e.p90_delay, step_s)}")


SWEEP_GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95 of the bounded score in [0, 1)
SWEEP_QUANTILES = (0.9, 0.99, 0.999, 0.9999)


def sweep_thresholds(scores: np.ndarray) -> np.ndarray:
    """Thresholds that span the bounded anomaly score: a grid over [0.3, 0.95] and the scores' upper quantiles.

    >>> sweep_thresholds(np.linspace(0.0, 1.0, 10_001))[-6:].tolist()
    [0.85, 0.9, 0.95, 0.99, 0.999, 0.9999]
    """
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    quantiles = np.quantile(s, SWEEP_QUANTILES).round(6) if s.size else np.empty(0)
    return np.unique(np.concatenate((np.array(SWEEP_GRID), quantiles)))


def sweep_table(labels: np.ndarray, scores: np.ndarray, thresholds: Sequence[float] | None = None, *,
                nab: Sweep | None = None) -> str:
    """Point-wise figures over thresholds applied to the same scores, with NAB's three scores when given.

    Learning followed the run's own alerts, so the rows show what other
    thresholds would have flagged, not what a rerun would learn.
    ``thresholds`` defaults to :func:`sweep_thresholds`; ``nab`` is a
    :func:`aiops.detectors.evaluation.nab.sweep` at the same thresholds.
    """
    thr = sweep_thresholds(scores) if thresholds is None else np.asarray(thresholds, dtype=float)
    if nab is not None and not np.array_equal(nab.thresholds, thr):
        raise ValueError("the NAB sweep was made at other thresholds")
    head = "threshold  precision  recall     F1     FAR%    MAR%"
    lines = [head + ("    NAB std   low-FP   low-FN" if nab is not None else "")]
    normalised = [nab.normalised(p) for p in PROFILES.values()] if nab is not None else []
    for i, t in enumerate(thr):
        m = binary_metrics(labels, scores >= t)
        line = f"{t:9.4f}  {m.precision:9.3f}  {m.recall:6.3f}  {m.f1:6.3f}  {m.far:6.2f}  {m.mar:6.2f}"
        if normalised:
            line += "  " + "  ".join(f"{n[i]:7.1f}" for n in normalised)
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class FileLabels:
    """What a file is judged against.

    ``mask``: the labelled rows (point-wise and event-level figures; None:
    no labels, false alarms only); ``windows``: NAB's windows as inclusive
    row ranges (None: the file takes no part in the NAB score).
    """

    mask: np.ndarray | None
    windows: list[tuple[int, int]] | None
    source: str


def file_labels(path: str | Path, frame: Frame,
                table: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> FileLabels:
    """A file's labels: its windows in a NAB labels ``table`` if listed there, else built from its label column.

    >>> f = Frame("x", np.arange(1000.0), np.zeros((1000, 1)), ["v"], np.arange(1000) == 500)
    >>> fl = file_labels("x.csv", f)
    >>> fl.windows, int(fl.mask.sum()), fl.source
    ([(450, 550)], 1, 'label column')
    >>> fl = file_labels("data/x.csv", f, {"data/x.csv": [(100.0, 109.0)]})
    >>> fl.windows, int(fl.mask.sum()), fl.source
    ([(100, 109)], 10, 'labels file: data/x.csv')
    """
    key = match_labels(path, table) if table is not None else None
    if key is not None:
        assert table is not None
        windows = windows_from_times(frame.times, table[key])
        mask = np.zeros(len(frame.times), dtype=bool)
        for a, b in windows:
            mask[a:b + 1] = True
        return FileLabels(mask, windows, f"labels file: {key}")
    if frame.labels is not None:
        return FileLabels(frame.labels, windows_from_labels(frame.labels), "label column")
    return FileLabels(None, None, "no labels")


def iso_utc(seconds: float) -> str:
    """Unix seconds in ISO 8601 UTC, microseconds only when there are any.

    >>> iso_utc(1442484000.0), iso_utc(0.25)
    ('2015-09-17T10:00:00Z', '1970-01-01T00:00:00.250000Z')
    """
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


#: The columns of a scores file, in order.
SCORE_COLUMNS = ("timestamp", "anomaly_score", "is_anomaly", "alert", "episode", "time")


def write_scores(run: BacktestRun, path: Path) -> None:
    """``timestamp,anomaly_score,is_anomaly,alert,episode,time`` per row.

    ``timestamp`` is the time as the input file wrote it (it joins back to the data and to label
    windows), ``time`` the same instant in ISO 8601 UTC.
    """
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SCORE_COLUMNS)
        times = run.frame.times.tolist()
        stamps = run.frame.stamps or [f"{t:.6f}".rstrip("0").rstrip(".") for t in times]
        for st, s, f, a, e, t in zip(stamps, run.anomaly_score.tolist(), run.flagged.tolist(),
                                     run.alert.tolist(), run.episode.tolist(), times):
            w.writerow([st, f"{s:.9g}", int(f), int(a), e, iso_utc(t)])


def median_step(times: np.ndarray) -> float | None:
    if len(times) < 2:
        return None
    return float(np.median(np.diff(times)))
