"""A PNG per backtest: the series, the score against the threshold, labelled windows and alerts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aiops.detectors.metrics import segments

if TYPE_CHECKING:
    from aiops.detectors.backtest import BacktestRun


def plot_run(run: BacktestRun, path: Path, *, max_features: int = 8) -> None:
    """Write the run's picture to ``path`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = run.frame
    x = np.arange(len(frame.times))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for c, name in enumerate(frame.features[:max_features]):
        col = frame.X[:, c]
        lo, hi = np.nanmin(col), np.nanmax(col)
        top.plot(x, (col - lo) / (hi - lo) if hi > lo else col * 0, lw=0.7, label=name)
    top.set_ylabel("features (min-max scaled)")
    top.legend(fontsize=6, loc="upper left", ncol=4)
    bottom.plot(x, run.score, lw=0.8, color="black", label="anomaly score")
    bottom.plot(x, run.threshold, lw=0.8, color="red", ls="--", label="threshold")
    alerts = np.flatnonzero(run.flagged)
    bottom.scatter(alerts, run.score[alerts], s=4, color="red", label="alert", zorder=3)
    if frame.labels is not None:
        for start, end in segments(frame.labels):
            for ax in (top, bottom):
                ax.axvspan(start, end, color="orange", alpha=0.2, lw=0)
    bottom.set_ylim(min(0.4, float(np.nanmin(run.score))), 1.01)
    bottom.set_xlabel("row (time order); shaded: labelled anomalies")
    bottom.legend(fontsize=6, loc="lower left", ncol=3)
    fig.suptitle(frame.name)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
