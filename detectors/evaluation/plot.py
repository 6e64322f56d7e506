"""A PNG per backtest: the series, and the anomaly score with its episodes, alerts and labelled windows.

>>> import tempfile, os
>>> from aiops.detectors.evaluation.backtest import BacktestRun, Frame
>>> x = np.sin(np.arange(300) / 9.0)[:, None]
>>> flagged = np.zeros(300, dtype=bool); flagged[200:210] = True
>>> labels = np.zeros(300, dtype=bool); labels[195:215] = True
>>> opened = flagged & ~np.r_[False, flagged[:-1]]
>>> run = BacktestRun(Frame("demo", np.arange(300.0), x, ["v"], labels), ["z"], np.abs(x[:, 0]),
...                   np.full(300, 0.9), flagged, np.abs(x[:, 0]), np.abs(x[:, 0]), opened, np.cumsum(opened) * flagged)
>>> path = os.path.join(tempfile.mkdtemp(), "demo.png")
>>> plot_run(run, path, threshold=0.8)
>>> open(path, "rb").read(4)
b'\\x89PNG'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aiops.detectors.evaluation.metrics import segments

if TYPE_CHECKING:
    from aiops.detectors.evaluation.backtest import BacktestRun


def plot_run(run: BacktestRun, path: str | Path, *, labels: np.ndarray | None = None, threshold: float | None = None,
             probation: int | None = None, max_features: int = 8) -> None:
    """Write the run's picture to ``path`` (matplotlib, Agg backend).

    Top: the features, min-max scaled. Bottom: ``anomaly_score`` in [0, 1),
    the episodes (rows flagged, shaded red), the alerts (a marker where an
    episode opens) and, when given, a threshold line (e.g. NAB's optimum) and
    the end of the probationary period (a dotted line). Labelled rows
    (``labels``, by default the file's label column) are shaded orange on both.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = run.frame
    labels = frame.labels if labels is None else labels
    x = np.arange(len(frame.times))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for c, name in enumerate(frame.features[:max_features]):
        col = frame.X[:, c]
        lo, hi = np.nanmin(col), np.nanmax(col)
        top.plot(x, (col - lo) / (hi - lo) if hi > lo else col * 0, lw=0.7, label=name)
    top.set_ylabel("features (min-max scaled)")
    top.legend(fontsize=6, loc="upper left", ncol=4)
    if labels is not None:
        for n, (start, end) in enumerate(segments(labels)):
            for ax in (top, bottom):
                ax.axvspan(start - 0.5, end - 0.5, color="orange", alpha=0.25, lw=0,
                           label="labelled" if n == 0 and ax is bottom else None)
    for n, (start, end) in enumerate(segments(run.flagged)):
        bottom.axvspan(start - 0.5, end - 0.5, color="red", alpha=0.2, lw=0, label="episode" if n == 0 else None)
    bottom.plot(x, run.anomaly_score, lw=0.7, color="black", label="anomaly score")
    alerts = np.flatnonzero(run.alert)
    bottom.scatter(alerts, np.full(len(alerts), 1.02), marker="v", s=18, color="red", label="alert", zorder=3,
                   clip_on=False)
    if threshold is not None and np.isfinite(threshold):
        bottom.axhline(threshold, lw=0.8, color="blue", ls="--", label=f"threshold {threshold:.4g}")
    if probation:
        bottom.axvline(probation - 0.5, lw=0.8, color="grey", ls=":", label="probation ends")
    bottom.set_ylim(0.0, 1.05)
    bottom.set_ylabel("anomaly score")
    bottom.set_xlabel("row (time order)")
    bottom.legend(fontsize=6, loc="upper right", ncol=6, framealpha=0.6)
    fig.suptitle(frame.name)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
