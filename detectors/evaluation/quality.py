"""Detection quality of a configuration: false alarms on clean synthetic series, detection of injected faults.

Clean cases (unit noise, 1 s spacing): iid Gaussian, AR(1) with phi 0.8,
Student-t with 3 degrees of freedom, a sine of period 600 points plus noise,
and 4 correlated Gaussian features. False-alarm episodes (openings: what
pages a person) are counted per 10,000 points after the first ``settle``
points of each series.

Injected faults, each in its own series of iid Gaussian noise (the
correlation break in the 4-feature case), starting at ``inject_at``: a
6-sigma single-point spike, a 3-sigma level shift, the standard deviation
times 3, a drift of 5 sigma over 100 points, and a correlation break (one
sensor stops following the others, same marginal spread). A fault counts as
found when an episode opens within ``window`` points of its start; the
delay is the number of points from its start to that opening.

The scenario families (``aiops.detectors.evaluation.scenarios``) are scored the same
way and judged on episodes: false-alarm episodes per 10,000 clean points,
anomalies found within their stated delay, median and p90 delay, series
still inside an episode at their end, and whether the family's bounds hold.

Run as ``python -m aiops.detectors.evaluation.quality`` (or ``aiops quality``); it also
prints the SKAB summary line of the same configuration.

>>> import numpy as np
>>> X = inject(np.zeros((10, 1)), "spike", 5)
>>> X[:, 0].tolist()
[0.0, 0.0, 0.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0, 0.0]
>>> inject(np.zeros((6, 1)), "level_shift", 3)[:, 0].tolist()
[0.0, 0.0, 0.0, 3.0, 3.0, 3.0]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.engine import build_engine
from aiops.detectors.evaluation.metrics import EventMetrics, event_metrics
from aiops.detectors.evaluation.nab import NabFile, NabResult, format_nab, nab_corpus, nab_file, windows_from_labels
from aiops.detectors.evaluation.scenarios import FAMILIES, Family, Scenario, family
from aiops.detectors.stepwise import score_in_slices

FEATURE = ["value"]
MULTI = ["a", "b", "c", "d"]
KINDS = ("spike", "level_shift", "variance_x3", "drift_5sd_100", "correlation_break")
WINDOW = 200  # points after a fault's start in which a flag counts as finding it


def gaussian(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, 1))


def ar1(n: int, rng: np.random.Generator, phi: float = 0.8) -> np.ndarray:
    e = rng.normal(size=n) * math.sqrt(1.0 - phi * phi)
    x = np.empty(n)
    prev = 0.0
    for i in range(n):
        prev = phi * prev + e[i]
        x[i] = prev
    return x[:, None]


def student_t3(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_t(3, size=(n, 1))


def seasonal(n: int, rng: np.random.Generator, period: int = 600, amplitude: float = 3.0) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * np.arange(n) / period) + rng.normal(size=n))[:, None]


def correlated(n: int, rng: np.random.Generator, rho: float = 0.8) -> np.ndarray:
    common = rng.normal(size=(n, 1))
    return math.sqrt(rho) * common + math.sqrt(1.0 - rho) * rng.normal(size=(n, len(MULTI)))


CLEAN: dict[str, tuple[Callable[[int, np.random.Generator], np.ndarray], list[str]]] = {
    "gaussian": (gaussian, FEATURE),
    "ar1_phi0.8": (ar1, FEATURE),
    "student_t3": (student_t3, FEATURE),
    "seasonal_p600": (seasonal, FEATURE),
    "multivariate_4": (correlated, MULTI),
}


def inject(X: np.ndarray, kind: str, at: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A copy of unit-noise rows ``X`` with one fault of ``kind`` starting at row ``at``."""
    X = X.copy()
    if kind == "spike":
        X[at, 0] += 6.0
    elif kind == "level_shift":
        X[at:, 0] += 3.0
    elif kind == "variance_x3":
        X[at:, 0] *= 3.0
    elif kind == "drift_5sd_100":
        ramp = np.minimum(np.arange(len(X) - at) / 100.0, 1.0) * 5.0
        X[at:, 0] += ramp
    elif kind == "correlation_break":
        rng = rng or np.random.default_rng(0)
        X[at:, -1] = rng.normal(size=len(X) - at) * X[:at, -1].std()
    else:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
    return X


@dataclass(frozen=True)
class CaseResult:
    name: str
    points: int
    false_alarms: int

    @property
    def per_10k(self) -> float:
        return 1e4 * self.false_alarms / self.points if self.points else math.nan


@dataclass(frozen=True)
class FaultResult:
    kind: str
    found: int
    total: int
    delays: tuple[int, ...]
    false_before: int

    @property
    def median_delay(self) -> float:
        return float(np.median(self.delays)) if self.delays else math.nan


@dataclass(frozen=True)
class QualityReport:
    clean: list[CaseResult]
    faults: list[FaultResult]
    elapsed_s: float


def measure(config: DetectionConfig | None = None, *, clean_points: int = 20_000, clean_series: int = 3,
            fault_series: int = 20, fault_points: int = 2_600, inject_at: int = 2_000, settle: int = 1_000,
            seed: int = 0, progress: Callable[[int], None] | None = None,
            on_total: Callable[[int], None] | None = None) -> QualityReport:
    """False-alarm episodes per clean case and detection per fault kind, all series scored side by side.

    ``on_total(n)`` is told the points to score once the series are made, ``progress(n)`` the points scored.
    """
    start = time.perf_counter()
    config = config or DetectionConfig()
    engine = build_engine(config)
    rng = np.random.default_rng(seed)
    layouts: dict[tuple[str, ...], list[tuple[str, np.ndarray, np.ndarray]]] = {}
    meta: dict[str, tuple[str, str]] = {}  # series id -> ("clean"|"fault", case or kind)
    for case, (make, feats) in CLEAN.items():
        for i in range(clean_series):
            sid = f"quality|clean={case}#{i}"
            X = make(clean_points, rng)
            layouts.setdefault(tuple(feats), []).append((sid, np.arange(clean_points, dtype=float), X))
            meta[sid] = ("clean", case)
    for kind in KINDS:
        feats = MULTI if kind == "correlation_break" else FEATURE
        make = correlated if kind == "correlation_break" else gaussian
        for i in range(fault_series):
            sid = f"quality|fault={kind}#{i}"
            X = inject(make(fault_points, rng), kind, inject_at, rng)
            layouts.setdefault(tuple(feats), []).append((sid, np.arange(fault_points, dtype=float), X))
            meta[sid] = ("fault", kind)
    flagged: dict[str, np.ndarray] = {}  # series id -> episode openings
    if on_total is not None:
        on_total(sum(len(t) for items in layouts.values() for _, t, _ in items))
    for feats, items in layouts.items():
        results = score_in_slices(engine, items, feats, on_rows=progress)
        for (sid, _, _), (_, res) in zip(items, results):
            flagged[sid] = res.alert
    clean = []
    for case in CLEAN:
        runs = [f for sid, f in flagged.items() if meta[sid] == ("clean", case)]
        clean.append(CaseResult(case, sum(len(f) - settle for f in runs), int(sum(f[settle:].sum() for f in runs))))
    faults = []
    for kind in KINDS:
        runs = [f for sid, f in flagged.items() if meta[sid] == ("fault", kind)]
        delays = []
        for f in runs:
            hits = np.flatnonzero(f[inject_at:inject_at + WINDOW])
            if hits.size:
                delays.append(int(hits[0]))
        before = int(sum(f[settle:inject_at].sum() for f in runs))
        faults.append(FaultResult(kind, len(delays), len(runs), tuple(delays), before))
    return QualityReport(clean, faults, time.perf_counter() - start)


def format_report(report: QualityReport) -> str:
    lines = ["false-alarm episodes on clean series (after the first 1,000 points of each)",
             f"{'case':<18}{'points':>10}{'episodes':>9}{'per 10k':>9}"]
    for c in report.clean:
        lines.append(f"{c.name:<18}{c.points:>10,}{c.false_alarms:>9}{c.per_10k:>9.2f}")
    lines += ["", f"injected faults (found = an episode opens within {WINDOW} points of the start)",
              f"{'fault':<20}{'found':>9}{'rate':>7}{'median delay':>14}{'opened before':>14}"]
    for f in report.faults:
        delay = "n/a" if math.isnan(f.median_delay) else f"{f.median_delay:.0f}"
        lines.append(f"{f.kind:<20}{f'{f.found}/{f.total}':>9}{f.found / f.total:>7.2f}{delay:>14}{f.false_before:>14}")
    lines.append(f"({report.elapsed_s:.1f} s)")
    return "\n".join(lines)


@dataclass(frozen=True)
class FamilyResult:
    """How one family fared: its series' event figures added up, episodes while settling, series stuck at the end."""

    family: Family
    points: int
    interval_s: float
    events: EventMetrics
    settle_episodes: int  # most episodes opened in one series' settle rows
    stuck: int  # series still inside an episode at their last row

    def failures(self) -> list[str]:
        """The family's bounds that do not hold, each in a few words (empty: all hold)."""
        fam, e = self.family, self.events
        out = []
        if e.false_per_10k > fam.max_false_per_10k:
            out.append(f"false {e.false_per_10k:.1f}/10k > {fam.max_false_per_10k:g}")
        if e.recall < fam.min_recall:
            out.append(f"recall {e.recall:.2f} < {fam.min_recall:g}")
        if not e.median_delay <= fam.max_median_delay:  # nan (nothing found) fails too
            out.append(f"median delay {e.median_delay:g} > {fam.max_median_delay:g}")
        if fam.max_settle_episodes is not None and self.settle_episodes > fam.max_settle_episodes:
            out.append(f"{self.settle_episodes} settle episodes > {fam.max_settle_episodes}")
        if self.stuck:
            out.append(f"{self.stuck} stuck")
        return out

    @property
    def holds(self) -> bool:
        return not self.failures()


def judge_family(fam: Family, runs: list[tuple[Scenario, np.ndarray, np.ndarray]]) -> FamilyResult:
    """Figures of one family from its scenarios with their ``(alert, inside)`` marks."""
    total = EventMetrics(0, 0, (), 0, 0)
    settle_episodes, stuck, points, spacing = 0, 0, 0, []
    for sc, alert, inside in runs:
        total = total + event_metrics(sc.labels, alert, settle=fam.settle)
        settle_episodes = max(settle_episodes, int(alert[:fam.settle].sum()))
        stuck += int(inside[-1])
        points += len(sc.labels)
        spacing.append(float(np.median(np.abs(np.diff(sc.times)))))
    return FamilyResult(fam, points, float(np.median(spacing)), total, settle_episodes, stuck)


@dataclass(frozen=True)
class FamilyReport:
    results: list[FamilyResult]
    elapsed_s: float
    nab: dict[str, NabResult] | None = None  # anomaly_score over every scenario, NAB windows around its onsets
    nab_files: int = 0


def onset_windows(sc: Scenario) -> list[tuple[int, int]]:
    """NAB's windows of a scenario: each onset centred in one, together 10% of its rows."""
    onsets = np.zeros(len(sc.times), dtype=bool)
    onsets[list(sc.onsets)] = True
    return windows_from_labels(onsets)


def measure_families(config: DetectionConfig | None = None, *, seed: int = 0, names: list[str] | None = None,
                     progress: Callable[[int], None] | None = None,
                     on_total: Callable[[int], None] | None = None) -> FamilyReport:
    """Every scenario family (or those ``names``) scored side by side in one engine and judged on its bounds.

    ``on_total(n)`` is told the points to score once the scenarios are made, ``progress(n)`` the points scored.
    """
    start = time.perf_counter()
    families = [family(n) for n in names] if names is not None else list(FAMILIES.values())
    scenarios = [(fam, sc) for fam in families for sc in fam.generate(seed)]
    engine = build_engine(config or DetectionConfig())
    if on_total is not None:
        on_total(sum(len(sc.times) for _, sc in scenarios))
    scored = score_in_slices(engine, [(f"quality|{sc.series_id}", sc.times, sc.X) for _, sc in scenarios], FEATURE,
                             on_rows=progress)
    runs: dict[str, list[tuple[Scenario, np.ndarray, np.ndarray]]] = {}
    nab: list[NabFile] = []
    for (fam, sc), (_, res) in zip(scenarios, scored):
        runs.setdefault(fam.name, []).append((sc, res.alert, res.flagged))
        nab.append(nab_file(sc.series_id, res.anomaly_score, onset_windows(sc)))
    results = [judge_family(fam, runs[fam.name]) for fam in families]
    return FamilyReport(results, time.perf_counter() - start, nab_corpus(nab), len(nab))


def _fmt(value: float, spec: str = ".0f") -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def format_families(report: FamilyReport) -> str:
    """The family table: one row per family, its figures and whether its bounds hold (else which fail)."""
    lines = ["scenario families (episodes: false = openings outside the labelled windows, after each series' "
             "settle rows; found = opened within the stated delay; delays in points)",
             f"{'family':<19}{'step':>6}{'series':>7}{'points':>8}{'clean':>8}{'false/10k':>10}{'found':>7}"
             f"{'recall':>7}{'within':>7}{'median':>7}{'p90':>6}{'stuck':>6}  bounds"]
    for r in report.results:
        e, fam = r.events, r.family
        verdict = "hold" if r.holds else "FAIL: " + "; ".join(r.failures())
        lines.append(f"{fam.name:<19}{r.interval_s:>5.0f}s{fam.series:>7}{r.points:>8,}{e.clean_points:>8,}"
                     f"{_fmt(e.false_per_10k, '.1f'):>10}{f'{e.found}/{e.events}':>7}{_fmt(e.recall, '.2f'):>7}"
                     f"{fam.detect_within:>7}{_fmt(e.median_delay):>7}{_fmt(e.p90_delay):>6}{r.stuck:>6}  {verdict}")
    held = sum(r.holds for r in report.results)
    lines.append(f"{held}/{len(report.results)} families within their bounds ({report.elapsed_s:.1f} s)")
    if report.nab is not None:
        lines.append("anomaly_score of every family's series, NAB windows centred on the onsets:")
        lines.append(format_nab(report.nab, report.nab_files))
    return "\n".join(lines)


def skab_line(config: DetectionConfig | None = None, *, data: Path | None = None,
              progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None) -> str:
    """The ensemble's SKAB figures under both protocols, one line (how to get the data when it is not there)."""
    from aiops.detectors.evaluation.backtest import read_csv
    from aiops.detectors.evaluation.datasets import SKAB
    from aiops.detectors.evaluation.skab import LEADERBOARD_TRAIN_ROWS, evaluate, labelled_files

    data = data or SKAB.find()
    files = labelled_files(data) if data is not None else []
    if not files:
        return f"SKAB: no data found; {SKAB.how_to_get()}"
    config = config or DetectionConfig()
    frames = [read_csv(p) for p in files]
    if on_total is not None:
        on_total(2 * sum(len(f.times) for f in frames))
    parts = []
    for rows in (LEADERBOARD_TRAIN_ROWS, 0):
        trained = config.model_copy(update={"warmup": max(config.warmup, rows)})  # as run_skab trains
        m = evaluate(frames, trained, "ensemble", progress=progress).metrics
        label = f"first {rows} rows trained" if rows else "online, no training"
        parts.append(f"{label}: F1 {m.f1:.3f} FAR {m.far:.2f}% MAR {m.mar:.2f}%")
    return f"SKAB ensemble, {len(files)} files | " + " | ".join(parts)


def main(config: DetectionConfig | None = None) -> int:
    print(format_report(measure(config)))
    print()
    print(format_families(measure_families(config)))
    print(skab_line(config))
    return 0


if __name__ == "__main__":
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    raise SystemExit(main())
