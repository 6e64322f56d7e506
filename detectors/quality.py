"""Detection quality of a configuration: false alarms on clean synthetic series, detection of injected faults.

Clean cases (unit noise, 1 s spacing): iid Gaussian, AR(1) with phi 0.8,
Student-t with 3 degrees of freedom, a sine of period 600 points plus noise,
and 4 correlated Gaussian features. False alarms are counted per 10,000
points after the first ``settle`` points of each series.

Injected faults, each in its own series of iid Gaussian noise (the
correlation break in the 4-feature case), starting at ``inject_at``: a
6-sigma single-point spike, a 3-sigma level shift, the standard deviation
times 3, a drift of 5 sigma over 100 points, and a correlation break (one
sensor stops following the others, same marginal spread). A fault counts as
found when a point is flagged within ``window`` points of its start; the
delay is the number of points from its start to that first flag.

Run as ``python -m aiops.detectors.quality`` (or ``aiops quality``); it also
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
from typing import Callable

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.engine import build_engine

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
            seed: int = 0) -> QualityReport:
    """False alarms per clean case and detection per fault kind, all series scored side by side."""
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
    flagged: dict[str, np.ndarray] = {}
    for feats, items in layouts.items():
        results = engine.score_many_series(items, list(feats))
        for (sid, _, _), (_, res) in zip(items, results):
            flagged[sid] = res.flagged
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
    lines = ["false alarms on clean series (after the first 1,000 points of each)",
             f"{'case':<18}{'points':>10}{'flagged':>9}{'per 10k':>9}"]
    for c in report.clean:
        lines.append(f"{c.name:<18}{c.points:>10,}{c.false_alarms:>9}{c.per_10k:>9.2f}")
    lines += ["", f"injected faults (found = flagged within {WINDOW} points of the start)",
              f"{'fault':<20}{'found':>9}{'rate':>7}{'median delay':>14}{'flags before':>14}"]
    for f in report.faults:
        delay = "n/a" if math.isnan(f.median_delay) else f"{f.median_delay:.0f}"
        lines.append(f"{f.kind:<20}{f'{f.found}/{f.total}':>9}{f.found / f.total:>7.2f}{delay:>14}{f.false_before:>14}")
    lines.append(f"({report.elapsed_s:.1f} s)")
    return "\n".join(lines)


def skab_line(config: DetectionConfig | None = None) -> str:
    """The ensemble's SKAB figures under both protocols, one line (empty when the data is not there)."""
    from aiops.detectors.backtest import read_csv
    from aiops.detectors.skab import DEFAULT_DATA, LEADERBOARD_TRAIN_ROWS, evaluate, labelled_files

    files = labelled_files(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else []
    if not files:
        return f"SKAB: no data at {DEFAULT_DATA}"
    config = config or DetectionConfig()
    frames = [read_csv(p) for p in files]
    parts = []
    for rows in (LEADERBOARD_TRAIN_ROWS, 0):
        trained = config.model_copy(update={"warmup": max(config.warmup, rows)})  # as run_skab trains
        m = evaluate(frames, trained, "ensemble").metrics
        label = f"first {rows} rows trained" if rows else "online, no training"
        parts.append(f"{label}: F1 {m.f1:.3f} FAR {m.far:.2f}% MAR {m.mar:.2f}%")
    return f"SKAB ensemble, {len(files)} files | " + " | ".join(parts)


def main(config: DetectionConfig | None = None) -> int:
    print(format_report(measure(config)))
    print(skab_line(config))
    return 0


if __name__ == "__main__":
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    raise SystemExit(main())
