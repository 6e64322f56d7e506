"""Scores of a detector run against labels: SKAB's outlier-problem metrics, detection delay, NAB-style score.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1, 1, 0, 0, 0], dtype=bool)
>>> p = np.array([0, 1, 0, 1, 1, 0, 0, 0], dtype=bool)
>>> m = binary_metrics(y, p)
>>> round(m.f1, 3), round(m.far, 1), round(m.mar, 1)
(0.667, 20.0, 33.3)
>>> detection_delays(y, p)
[1]
>>> alert = np.array([0, 1, 0, 0, 0, 0, 1, 0], dtype=bool)  # episode openings
>>> e = event_metrics(y, alert)
>>> e.found, e.events, e.delays, e.false_episodes, e.clean_points
(0, 1, (), 2, 5)
>>> event_metrics(y, alert, grace=2).found  # an opening shortly before a window's start counts for it
1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BinaryMetrics:
    """Point-wise counts and rates; FAR and MAR in percent as SKAB reports them."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def far(self) -> float:
        """False alarm rate: flagged normal points over all normal points, percent."""
        return 100.0 * self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar(self) -> float:
        """Missed alarm rate: unflagged anomalous points over all anomalous points, percent."""
        return 100.0 * self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0

    def __add__(self, other: BinaryMetrics) -> BinaryMetrics:
        return BinaryMetrics(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def binary_metrics(labels: np.ndarray, predicted: np.ndarray) -> BinaryMetrics:
    y, p = np.asarray(labels, dtype=bool), np.asarray(predicted, dtype=bool)
    return BinaryMetrics(int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum()), int((~y & ~p).sum()))


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    y = np.concatenate(([False], np.asarray(labels, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(y.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def detection_delays(labels: np.ndarray, predicted: np.ndarray) -> list[int | None]:
    """Rows from each labelled segment's start to its first alarm inside it (None: missed)."""
    p = np.asarray(predicted, dtype=bool)
    out: list[int | None] = []
    for start, end in segments(labels):
        hits = np.flatnonzero(p[start:end])
        out.append(int(hits[0]) if hits.size else None)
    return out


def nab_score(labels: np.ndarray, predicted: np.ndarray, *, fp_weight: float = 0.11) -> float:
    """A NAB-style normalised score of one file's alarms (standard profile): 100 = every window caught at its start.

    A quick per-file figure on alarms already thresholded; NAB's own method
    (windows, probation, the threshold optimised over a corpus) is
    :mod:`aiops.detectors.evaluation.nab`.

    Each labelled segment is a window: its first alarm earns ``2/(1+exp(5y)) - 1``
    with ``y`` from -1 (window start) to 0 (window end); a missed window costs 1;
    each alarm onset outside every window costs ``fp_weight``.

    >>> y = np.array([0] * 10 + [1] * 10 + [0] * 10, dtype=bool)
    >>> early = np.zeros(30, dtype=bool); early[10] = True
    >>> round(nab_score(y, early), 1), nab_score(y, np.zeros(30, dtype=bool))
    (99.3, 0.0)
    """
    y, p = np.asarray(labels, dtype=bool), np.asarray(predicted, dtype=bool)
    windows = segments(y)
    if not windows:
        return float("nan")
    raw = 0.0
    for start, end in windows:
        hits = np.flatnonzero(p[start:end])
        if hits.size:
            rel = -1.0 + hits[0] / max(end - start, 1)
            raw += 2.0 / (1.0 + np.exp(5.0 * rel)) - 1.0
        else:
            raw -= 1.0
    onsets = np.flatnonzero(p & ~np.concatenate(([False], p[:-1])))
    raw -= fp_weight * int((~y[onsets]).sum())
    null, perfect = -float(len(windows)), float(len(windows))
    return float(100.0 * (raw - null) / (perfect - null))


@dataclass(frozen=True)
class EventMetrics:
    """Event-level figures of one run or many added up: what a person on call sees.

    ``found``: labelled windows with an episode opening inside them (or up to
    ``grace`` rows before their start); ``delays``: rows from a found window's
    start to its first opening (negative when it opened early); ``false_episodes``:
    openings outside every window; ``clean_points``: rows outside every window.
    """

    events: int
    found: int
    delays: tuple[int, ...]
    false_episodes: int
    clean_points: int

    @property
    def recall(self) -> float:
        return self.found / self.events if self.events else float("nan")

    @property
    def false_per_10k(self) -> float:
        """False-alarm episodes per 10,000 clean points."""
        return 1e4 * self.false_episodes / self.clean_points if self.clean_points else float("nan")

    @property
    def median_delay(self) -> float:
        return float(np.median(self.delays)) if self.delays else float("nan")

    @property
    def p90_delay(self) -> float:
        return float(np.percentile(self.delays, 90)) if self.delays else float("nan")

    def __add__(self, other: EventMetrics) -> EventMetrics:
        return EventMetrics(self.events + other.events, self.found + other.found, self.delays + other.delays,
                            self.false_episodes + other.false_episodes, self.clean_points + other.clean_points)


def event_metrics(labels: np.ndarray, alert: np.ndarray, *, settle: int = 0, grace: int = 0) -> EventMetrics:
    """Event-level figures of episode openings ``alert`` against labelled windows ``labels``.

    Rows before ``settle`` (a warm-up) count neither as clean points nor as
    false episodes; a window is still found by an opening inside it there.
    """
    y, a = np.asarray(labels, dtype=bool), np.asarray(alert, dtype=bool)
    windows = segments(y)
    claimed = np.zeros(len(y), dtype=bool)  # openings that found a window (or opened in one)
    delays: list[int] = []
    for start, end in windows:
        lo = max(start - grace, 0)
        hits = np.flatnonzero(a[lo:end])
        claimed[lo:end] |= a[lo:end]
        if hits.size:
            delays.append(int(lo + hits[0] - start))
    outside = ~y
    outside[:settle] = False
    false = int((a & outside & ~claimed).sum())
    return EventMetrics(len(windows), len(delays), tuple(delays), false, int(outside.sum()))
