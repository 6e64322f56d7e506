"""Backtest of the LSTM-AE and PyOD banks on SKAB, online, as the stream would see it.

The autoencoder is trained on the first part of SKAB's anomaly-free file; the
alarm threshold is a high quantile of the raw scores the bank gives online to
the held-out rest of that file (the test labels are never used to choose it).
Then every experiment file (valve1, valve2, other) is streamed through a fresh
bank as its own series, all files side by side one step at a time: score,
compare with the threshold, learn from the points not flagged. Points scored
before a series is warm count as "normal" predictions. With ``--baseline N``
a series' statistics (AE) or fit (PyOD) come from its first N points only, as
in SKAB's own protocol (first 400 points of each file for training); then a
second threshold is also reported, taken from each file's own scores over
those N points. Precision, recall, F1,
false alarm rate and missed alarm rate are pooled over all points of all files
(outlier labels: the ``anomaly`` column).

    python -m aiops.models.evaluation.skab_eval --data ../shared/data/skab
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import structlog
import torch

from aiops.detectors.evaluation.datasets import SKAB, DataNotFound
from aiops.models.config import LSTMAEConfig
from aiops.models.data import History, read_history
from aiops.models.registry import CheckpointRegistry
from aiops.models.train import train_histories

log = structlog.get_logger(__name__)

GROUPS = ("valve1", "valve2", "other")


@dataclass(slots=True)
class Labelled:
    name: str
    history: History
    labels: np.ndarray


@dataclass(slots=True)
class Metrics:
    """Point-wise detection quality, pooled over files (rates in %)."""

    f1: float
    precision: float
    recall: float
    far: float
    mar: float
    points: int

    @classmethod
    def of(cls, predicted: np.ndarray, labels: np.ndarray) -> Metrics:
        """
        >>> m = Metrics.of(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
        >>> (m.f1, m.far, m.mar)
        (0.5, 50.0, 50.0)
        """
        p, y = predicted.astype(bool), labels.astype(bool)
        tp, fp, fn, tn = (p & y).sum(), (p & ~y).sum(), (~p & y).sum(), (~p & ~y).sum()
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
        mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
        return cls(float(f1), float(precision), float(recall), float(far), float(mar), int(len(p)))

    def line(self) -> str:
        return (f"F1 {self.f1:.3f}  precision {self.precision:.3f}  recall {self.recall:.3f}  "
                f"FAR {self.far:.2f}%  MAR {self.mar:.2f}%  ({self.points} points)")


def load_experiments(root: Path) -> list[Labelled]:
    files = sorted((p for g in GROUPS for p in (root / g).glob("*.csv")), key=lambda p: (p.parent.name, int(p.stem)))
    out = []
    for path in files:
        history = read_history(path)
        labels = read_history(path, ["anomaly"]).values[:, 0]
        out.append(Labelled(f"{path.parent.name}/{path.stem}", history, labels))
    return out


def stream(bank: Any, series: Sequence[str], histories: Sequence[History], threshold: float | None) -> list[np.ndarray]:
    """Feed histories side by side; returns each one's raw scores (NaN where not warm)."""
    features = histories[0].features
    scores = [np.full(len(h.values), np.nan) for h in histories]
    longest = max(len(h.values) for h in histories)
    for k in range(longest):
        rows = [i for i, h in enumerate(histories) if k < len(h.values)]
        names = [series[i] for i in rows]
        X = np.stack([histories[i].values[k] for i in rows])
        times = np.array([histories[i].times[k] for i in rows])
        warm = bank.warm(names)
        raw = bank.score(names, X, features, times).raw
        for j, i in enumerate(rows):
            if warm[j]:
                scores[i][k] = raw[j]
        flagged = warm & (raw > threshold) if threshold is not None else np.zeros(len(rows), dtype=bool)
        bank.learn(names, X, features, times, ~flagged)
    return scores


def evaluate(
    name: str,
    make_bank: Callable[[], Any],
    calibration: History,
    experiments: Sequence[Labelled],
    quantiles: Sequence[float],
) -> None:
    started = time.perf_counter()
    calib = stream(make_bank(), ["calibration"], [calibration], None)[0]
    calib = calib[np.isfinite(calib)]
    for q in quantiles:
        threshold = float(np.quantile(calib, q))
        scores = stream(make_bank(), [e.name for e in experiments], [e.history for e in experiments], threshold)
        predicted = np.concatenate([np.nan_to_num(s, nan=-np.inf) > threshold for s in scores])
        labels = np.concatenate([e.labels for e in experiments])
        print(f"{name:<28} q={q:<6} threshold {threshold:<10.4g} {Metrics.of(predicted, labels).line()}")
    print(f"{name:<28} ({time.perf_counter() - started:.0f}s)")


def evaluate_per_series(
    name: str, make_bank: Callable[[], Any], experiments: Sequence[Labelled], baseline: int, quantiles: Sequence[float]
) -> None:
    """Thresholds from each file's own first ``baseline`` points (its training part in SKAB's protocol).

    With a frozen baseline and no retraining, what is learned after the
    baseline does not change any score, so thresholding after the stream is
    the same as thresholding during it.
    """
    started = time.perf_counter()
    scores = stream(make_bank(), [e.name for e in experiments], [e.history for e in experiments], None)
    labels = np.concatenate([e.labels for e in experiments])
    for q in quantiles:
        predicted = []
        for s in scores:
            head = s[:baseline][np.isfinite(s[:baseline])]
            threshold = float(np.quantile(head, q)) if len(head) else np.inf
            predicted.append(np.nan_to_num(s, nan=-np.inf) > threshold)
        metrics = Metrics.of(np.concatenate(predicted), labels)
        print(f"{name:<28} q={q:<6} per-file threshold  {metrics.line()}")
    print(f"{name:<28} ({time.perf_counter() - started:.0f}s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiops.models.evaluation.skab_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="SKAB folder (with anomaly-free/, valve1/...; default: $AIOPS_DATA_DIR/skab "
                             "if set, else ./data/skab or ../shared/data/skab)")
    shape = LSTMAEConfig()
    parser.add_argument("--window", type=int, default=shape.window)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=shape.hidden)
    parser.add_argument("--latent", type=int, default=shape.latent)
    parser.add_argument("--prior-weight", type=int, default=0)
    parser.add_argument("--baseline", type=int, nargs="+", default=[400, 0],
                        help="points of each file the series' statistics (AE) or fit (PyOD) learn from, then keep; "
                             "0: keep adapting (SKAB's protocol uses each file's first 400 points)")
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.99, 0.95])
    parser.add_argument("--score-on", choices=["last", "window"], nargs="+", default=["last", "window"])
    parser.add_argument("--pyod", choices=["ecod", "copod", "iforest", "none"], nargs="+", default=["ecod"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    try:
        args.data = SKAB.locate(args.data)
    except DataNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    free = read_history(args.data / "anomaly-free" / "anomaly-free.csv")
    cut = int(len(free.values) * 0.8)
    fit_part = History(free.path, free.features, free.times[:cut], free.values[:cut])
    calib_part = History(free.path, free.features, free.times[cut:], free.values[cut:])
    experiments = load_experiments(args.data)
    print(f"SKAB: trained on {cut} anomaly-free points, threshold from the other {len(free.values) - cut}; "
          f"{len(experiments)} experiment files, {sum(len(e.labels) for e in experiments)} points, "
          f"{int(sum(e.labels.sum() for e in experiments))} labelled anomalous")

    from aiops.detectors.pyod_window import PyODBank
    from aiops.models.detector import LSTMAEBank

    config = LSTMAEConfig(window=args.window, epochs=args.epochs, hidden=args.hidden, latent=args.latent, device="cpu")
    started = time.perf_counter()
    result, meta = train_histories([fit_part], config)
    print(f"LSTM-AE trained: {meta['n_windows']} windows, {result.epochs_run} epochs, "
          f"validation error {result.val_error:.4f}, {time.perf_counter() - started:.0f}s")
    with tempfile.TemporaryDirectory() as root:
        CheckpointRegistry(root).save(result.model, {"name": "skab", **meta})
        for baseline in args.baseline:
            for score_on in args.score_on:
                def make_ae(score_on: str = score_on, baseline: int = baseline) -> LSTMAEBank:
                    return LSTMAEBank(window=args.window, score_on=score_on, prior_weight=args.prior_weight,
                                      stats_limit=baseline or None, refresh_every=0, background=False,
                                      device="cpu", checkpoint={"dir": root, "name": "skab"})

                label = f"lstm_ae {score_on} baseline={baseline}"
                evaluate(label, make_ae, calib_part, experiments, args.quantiles)
                if baseline:
                    evaluate_per_series(label, make_ae, experiments, baseline, args.quantiles)
    for model in args.pyod:
        if model == "none":
            continue
        for baseline in args.baseline:
            def make_pyod(model: str = model, baseline: int = baseline) -> PyODBank:
                if baseline:  # fit once on the first half of the baseline; its second half sets the threshold
                    return PyODBank(model=model, background=False, n_estimators=50, window_size=baseline // 2,
                                    min_points=baseline // 2, refit_every=10**9)
                return PyODBank(model=model, background=False, n_estimators=50)

            evaluate(f"pyod {model} baseline={baseline}", make_pyod, calib_part, experiments, args.quantiles)
            if baseline:
                evaluate_per_series(f"pyod {model} baseline={baseline}", make_pyod, experiments, baseline,
                                    args.quantiles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
