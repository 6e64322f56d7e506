"""The NAB scoring method (Numenta Anomaly Benchmark, v1.1), with the threshold optimised over a corpus.

Each labelled anomaly is a window of rows. Over a file, a detection is a row
whose score reaches the threshold, after the probationary period (the first
15% of the rows, at most 750: detections there are ignored). A window earns
``tp_weight`` times the scaled sigmoid of its earliest detection's position
(1 at the window's first row, falling towards 0 at its end, divided by its
value at the start); later detections in it are ignored. A window without a
detection costs ``fn_weight``. A detection outside every window costs
``fp_weight`` times the sigmoid of its distance past the preceding window
(little just after a window, the full cost three window widths later or when
no window precedes). The raw score of a corpus is the sum over its files; it
is normalised so that a detector that never alarms scores 0 and one that
finds every window at its first row, without a false positive, scores 100.
The threshold is chosen per profile to maximise the corpus's score: every
distinct score is tried, so the optimum is exact.

>>> scores = np.zeros(100)
>>> scores[60] = 0.9                                    # detection on the first row of the window
>>> f = nab_file("a.csv", scores, [(60, 69)])
>>> r = nab_corpus([f])["standard"]
>>> round(r.score, 1), r.threshold, r.detected, r.false_positives
(100.0, 0.9, 1, 0)
>>> scores[30] = 0.95                                   # and a louder false alarm, no window before it
>>> r = nab_corpus([nab_file("a.csv", scores, [(60, 69)])])["standard"]
>>> round(r.score, 1), r.threshold                      # (1 - 0.11 + 1) / 2: still worth alarming at 0.9
(94.5, 0.9)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from aiops.detectors.core.errors import InputError
from aiops.detectors.evaluation.metrics import segments

PROBATION_PERCENT = 0.15
WINDOW_SIZE = 0.10  # all of a file's windows together span 10% of its rows


class NabLabelsError(InputError):
    """A NAB labels file cannot be read or does not fit the files given."""


@dataclass(frozen=True)
class Profile:
    """An application profile: the weights of NAB's cost matrix (``tn`` is part of it but scores nothing)."""

    tp: float
    fp: float
    fn: float
    tn: float = 1.0


PROFILES: Mapping[str, Profile] = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile(tp=1.0, fp=0.11, fn=2.0),
}


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's weight of a detection at ``position``: ``2 / (1 + exp(5 x)) - 1``, and -1 beyond 3.

    Inside a window the position runs from -1 (first row) to just below 0
    (last row); past a window it counts window widths after its end.

    >>> scaled_sigmoid(np.array([-1.0, 0.0, 1.0, 3.5])).round(4).tolist()
    [0.9866, 0.0, -0.9866, -1.0]
    """
    x = np.asarray(position, dtype=float)
    return np.where(x > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(x, 3.0))) - 1.0)


MAX_TP = float(scaled_sigmoid(-1.0))


def probationary_length(rows: int) -> int:
    """Rows at the start of a file whose detections NAB ignores: 15% of them, at most 750.

    >>> probationary_length(1000), probationary_length(4032), probationary_length(22695)
    (150, 604, 750)
    """
    if rows < 0:
        raise ValueError(f"a file cannot have {rows} rows")
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000))


def windows_from_labels(labels: np.ndarray) -> list[tuple[int, int]]:
    """NAB's windows from labelled rows: each anomaly (a run's first row) centred in a window, overlaps merged.

    The windows of a file together span 10% of its rows: each is
    ``int(0.1 * rows / anomalies)`` long, clipped to the file. Windows are
    inclusive row ranges ``(first, last)``.

    >>> y = np.zeros(1000, dtype=bool); y[[200, 201, 202, 600, 630]] = True
    >>> windows_from_labels(y)          # 3 anomalies: 33 rows each; the last two overlap and merge
    [(184, 216), (584, 646)]
    """
    y = np.asarray(labels, dtype=bool)
    if y.ndim != 1:
        raise ValueError("labels must be one-dimensional")
    anomalies = [start for start, _ in segments(y)]
    if not anomalies:
        return []
    half = int(WINDOW_SIZE * len(y) / len(anomalies)) // 2
    merged: list[tuple[int, int]] = []
    for a in anomalies:
        front, back = max(a - half, 0), min(a + half, len(y) - 1)
        if merged and merged[-1][1] >= front:
            merged[-1] = (merged[-1][0], back)
        else:
            merged.append((front, back))
    return merged


def _time(text: str, where: str) -> float:
    try:
        stamp = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise NabLabelsError(f"{where}: cannot read time {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def read_windows_file(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Read NAB's ``combined_windows.json``: relative file path -> windows as (start, end) epoch seconds.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.json")
    >>> window = ["2015-09-17 10:00:00.000000", "2015-09-17 12:00:00.000000"]
    >>> _ = open(p, "w").write(json.dumps({"realTraffic/speed.csv": [window]}))
    >>> read_windows_file(p)
    {'realTraffic/speed.csv': [(1442484000.0, 1442491200.0)]}
    """
    try:
        with open(path) as fh:
            data = json.load(fh)
    except OSError as exc:
        raise NabLabelsError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise NabLabelsError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NabLabelsError(f"{path}: expected an object of file path -> list of [start, end] windows")
    table: dict[str, list[tuple[float, float]]] = {}
    for name, windows in data.items():
        if not isinstance(windows, list) or not all(isinstance(w, list) and len(w) == 2 for w in windows):
            raise NabLabelsError(f"{path}: {name!r}: windows must be a list of [start, end] pairs")
        pairs = [(_time(a, f"{path}: {name}"), _time(b, f"{path}: {name}")) for a, b in windows]
        for a, b in pairs:
            if b < a:
                raise NabLabelsError(f"{path}: {name!r}: a window ends before it starts")
        table[name] = sorted(pairs)
    return table


def match_labels(path: str | Path, table: Mapping[str, object]) -> str | None:
    """The key of ``table`` naming the file ``path``: the longest matching relative path, else the same file name.

    >>> t = {"realTraffic/speed_6005.csv": [], "artificialWithAnomaly/art_daily_jumpsup.csv": []}
    >>> match_labels("/data/nab/realTraffic/speed_6005.csv", t), match_labels("copy/art_daily_jumpsup.csv", t)
    ('realTraffic/speed_6005.csv', 'artificialWithAnomaly/art_daily_jumpsup.csv')
    >>> match_labels("other.csv", t) is None
    True
    """
    parts = Path(path).parts
    best, best_len = None, 0
    for key in table:
        kparts = Path(key).parts
        if kparts and len(kparts) <= len(parts) and parts[-len(kparts):] == kparts and len(kparts) > best_len:
            best, best_len = key, len(kparts)
    if best is not None:
        return best
    same_name = [key for key in table if Path(key).name == Path(path).name]
    if len(same_name) > 1:
        raise NabLabelsError(f"{path}: its file name matches several labelled files: {', '.join(same_name)}")
    return same_name[0] if same_name else None


def windows_from_times(times: np.ndarray, limits: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """Row windows of time windows: from the first row at or after a start to the last row at or before its end.

    Windows without a row are dropped; overlapping ones are merged, as NAB's labeller merges them.

    >>> windows_from_times(np.arange(10.0) * 60, [(120.0, 300.0), (1000.0, 2000.0)])
    [(2, 5)]
    >>> windows_from_times(np.arange(10.0) * 60, [(0.0, 120.0), (60.0, 240.0), (420.0, 480.0)])
    [(0, 4), (7, 8)]
    """
    t = np.asarray(times, dtype=float)
    out: list[tuple[int, int]] = []
    for start, end in sorted(limits):
        first = int(np.searchsorted(t, start, side="left"))
        last = int(np.searchsorted(t, end, side="right")) - 1
        if first > last:
            continue
        if out and first <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


@dataclass(frozen=True)
class NabFile:
    """One file made ready for scoring at any threshold.

    ``records``: per window, the rows where the running maximum of the
    scores inside it rises (the only rows that can be its earliest detection
    at some threshold), with that maximum and the row's TP weight;
    ``fp_scores``/``fp_costs``: the score and the unweighted cost of every
    scored row outside the windows.
    """

    name: str
    rows: int
    windows: tuple[tuple[int, int], ...]
    probation: int
    records: tuple[tuple[np.ndarray, np.ndarray], ...]  # per scored window: (running max, tp weight)
    fp_scores: np.ndarray
    fp_costs: np.ndarray


def nab_file(name: str, scores: np.ndarray, windows: Sequence[tuple[int, int]], *,
             probation: int | None = None) -> NabFile:
    """Prepare one file: ``scores`` per row (NaN never detects), ``windows`` as inclusive row ranges in order."""
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"{name}: scores must be one-dimensional")
    s = np.where(np.isnan(s), -np.inf, s)
    n = len(s)
    wins = tuple((int(a), int(b)) for a, b in windows)
    for i, (a, b) in enumerate(wins):
        if not 0 <= a <= b < n:
            raise ValueError(f"{name}: window {a}..{b} is not inside the file's {n} rows")
        if i and a <= wins[i - 1][1]:
            raise ValueError(f"{name}: windows must be in order and must not overlap")
    start = probationary_length(n) if probation is None else int(probation)
    rows = np.arange(n)
    in_window = np.zeros(n, dtype=bool)
    records = []
    for a, b in wins:
        in_window[a:b + 1] = True
        lo = max(a, start)
        if lo > b:
            continue  # all in the probationary period: NAB does not score it
        width = b - a + 1
        running = np.maximum.accumulate(s[lo:b + 1])
        rises = np.flatnonzero(np.concatenate(([True], running[1:] > running[:-1])))
        weight = scaled_sigmoid(-(b - (lo + rises) + 1) / width) / MAX_TP
        records.append((running[rises], weight))
    # each outside row's distance past the preceding window, in that window's widths
    ends = np.array([b for _, b in wins], dtype=int)
    widths = np.array([b - a + 1 for a, b in wins], dtype=float)
    before = np.searchsorted(ends, rows, side="left") - 1  # index of the last window ending before the row
    cost = np.ones(n)
    has = before >= 0
    span = np.maximum(widths[before[has]] - 1.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        position = np.where(span > 0, (rows[has] - ends[before[has]]) / span, np.inf)
    cost[has] = -scaled_sigmoid(position)
    outside = ~in_window
    outside[:start] = False
    return NabFile(name, n, wins, start, tuple(records), s[outside], cost[outside])


@dataclass(frozen=True)
class NabResult:
    """A profile's normalised score at its best threshold, with what it found there."""

    profile: str
    score: float
    threshold: float
    windows: int
    detected: int
    false_positives: int  # detected rows outside every window (NAB counts rows)
    raw: float
    null: float
    perfect: float


@dataclass(frozen=True)
class Sweep:
    """The parts of the raw score at each threshold, the same for every profile."""

    thresholds: np.ndarray
    tp: np.ndarray  # sum of the found windows' TP weights
    found: np.ndarray  # windows found
    fp: np.ndarray  # sum of the false positives' costs
    fp_rows: np.ndarray
    windows: int

    def raw(self, profile: Profile) -> np.ndarray:
        return profile.tp * self.tp - profile.fn * (self.windows - self.found) - profile.fp * self.fp

    def normalised(self, profile: Profile) -> np.ndarray:
        null, perfect = -profile.fn * self.windows, profile.tp * self.windows
        if perfect == null:
            return np.full(len(self.thresholds), np.nan)
        return 100.0 * (self.raw(profile) - null) / (perfect - null)


def sweep(files: Sequence[NabFile], thresholds: np.ndarray | None = None) -> Sweep:
    """Evaluate the corpus at every threshold (default: every distinct score, and one above them all).

    A window's contribution is a step function of the threshold: it is
    found at its first running-maximum record at or above it. Each file adds
    its steps to difference arrays, so the cost is one sort of the scores.
    """
    if thresholds is None:
        every = [f.fp_scores for f in files] + [r for f in files for r, _ in f.records]
        pool = np.concatenate(every) if every else np.empty(0)
        pool = np.unique(pool[np.isfinite(pool)])
        thresholds = np.append(pool, np.inf)
    t = np.asarray(thresholds, dtype=float)
    if t.ndim != 1 or np.any(np.diff(t) <= 0):
        raise ValueError("thresholds must be strictly increasing")
    k = len(t)
    tp_diff, found_diff = np.zeros(k + 1), np.zeros(k + 1)
    windows = 0
    for f in files:
        for running, weight in f.records:
            windows += 1
            upto = np.searchsorted(t, running, side="right")  # thresholds t <= running[i]: index < upto[i]
            lows = np.concatenate(([0], upto[:-1]))
            np.add.at(tp_diff, lows, weight)
            np.add.at(tp_diff, upto, -weight)
            found_diff[0] += 1
            found_diff[upto[-1]] -= 1
    fp_scores = np.concatenate([f.fp_scores for f in files]) if files else np.empty(0)
    fp_costs = np.concatenate([f.fp_costs for f in files]) if files else np.empty(0)
    order = np.argsort(fp_scores, kind="stable")
    sorted_scores = fp_scores[order]
    tail_cost = np.concatenate((np.cumsum(fp_costs[order][::-1])[::-1], [0.0]))  # cost of rows i.. onwards
    first = np.searchsorted(sorted_scores, t, side="left")  # rows at or above each threshold start here
    return Sweep(t, np.cumsum(tp_diff)[:k], np.cumsum(found_diff)[:k].round().astype(int), tail_cost[first],
                 len(sorted_scores) - first, windows)


def nab_corpus(files: Sequence[NabFile], profiles: Mapping[str, Profile] = PROFILES,
               thresholds: np.ndarray | None = None) -> dict[str, NabResult]:
    """Each profile's NAB score over all ``files`` at the threshold that maximises it (the highest on ties)."""
    if not files:
        raise ValueError("no files to score")
    sw = sweep(files, thresholds)
    out = {}
    for name, profile in profiles.items():
        raw = sw.raw(profile)
        best = int(len(raw) - 1 - np.argmax(raw[::-1]))
        null, perfect = -profile.fn * sw.windows, profile.tp * sw.windows
        score = 100.0 * (raw[best] - null) / (perfect - null) if perfect != null else math.nan
        out[name] = NabResult(name, float(score), float(sw.thresholds[best]), sw.windows, int(sw.found[best]),
                              int(sw.fp_rows[best]), float(raw[best]), null, perfect)
    return out


def raw_score(scores: np.ndarray, windows: Sequence[tuple[int, int]], threshold: float, profile: Profile, *,
              probation: int | None = None) -> float:
    """One file's raw NAB score at one threshold, row by row as the method reads (a plain reference).

    >>> s = np.zeros(100); s[65] = 1.0; s[80] = 1.0
    >>> round(raw_score(s, [(60, 69)], 0.5, PROFILES["standard"]), 4)   # found half-way: 0.8598; an FP after: -0.1095
    0.7503
    """
    s = np.asarray(scores, dtype=float)
    start = probationary_length(len(s)) if probation is None else probation
    total, previous = 0.0, None
    found: set[int] = set()
    wins = list(windows)
    for w, (a, b) in enumerate(wins):
        if b < start:
            continue
        hit = next((i for i in range(max(a, start), b + 1) if s[i] >= threshold), None)
        if hit is None:
            total -= profile.fn
        else:
            found.add(w)
            total += profile.tp * float(scaled_sigmoid(-(b - hit + 1) / (b - a + 1))) / MAX_TP
    for i in range(start, len(s)):
        if any(a <= i <= b for a, b in wins) or not s[i] >= threshold:
            continue
        previous = max((w for w in wins if w[1] < i), default=None)
        if previous is None:
            total -= profile.fp
        else:
            a, b = previous
            position = (i - b) / (b - a) if b > a else math.inf
            total += profile.fp * float(scaled_sigmoid(position))
    return total


def format_nab(results: Mapping[str, NabResult], files: int) -> str:
    """One line per profile: the score, its threshold and what was found there.

    >>> s = np.zeros(200); s[100] = 0.8
    >>> print(format_nab(nab_corpus([nab_file("f", s, [(100, 109)])], {"standard": PROFILES["standard"]}), 1))
    NAB over 1 file(s) (threshold optimised per profile over all of them):
      standard             100.0  threshold=0.8  windows found=1/1 false positive rows=0
    >>> print(format_nab(nab_corpus([nab_file("f", s, [])], {"standard": PROFILES["standard"]}), 1))
    NAB over 1 file(s) (threshold optimised per profile over all of them):
      standard               n/a  no labelled window after the probationary periods
    """
    lines = [f"NAB over {files} file(s) (threshold optimised per profile over all of them):"]
    for r in results.values():
        if not r.windows:
            lines.append(f"  {r.profile:<19}    n/a  no labelled window after the probationary periods")
            continue
        thr = "never alarms" if math.isinf(r.threshold) else f"threshold={r.threshold:.6g}"
        lines.append(f"  {r.profile:<19} {r.score:6.1f}  {thr}  windows found={r.detected}/{r.windows} "
                     f"false positive rows={r.false_positives}")
    return "\n".join(lines)
