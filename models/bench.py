"""Benchmark of the LSTM-AE and PyOD banks: prints throughput, training/refit times and state size.

    python -m aiops.models.bench                 # defaults: 1000 series, 8 features, window 32
    python -m aiops.models.bench --series 4000 --threads 2

Numbers depend on the machine and its load; run it on an idle one.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from typing import Sequence

import numpy as np
import structlog
import torch

from aiops.models.config import LSTMAEConfig
from aiops.models.train import fit_windows


def features(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]


def series_rows(rng: np.random.Generator, n_series: int, n_features: int, t: int) -> np.ndarray:
    phase = np.arange(n_series)[:, None] * 0.37 + np.arange(n_features)[None, :] * 0.9
    return np.sin(t / 5.0 + phase) + 0.1 * rng.normal(size=(n_series, n_features))


def bench_lstm(args: argparse.Namespace) -> None:
    from aiops.detectors.lstm_ae import LSTMAEBank

    rng = np.random.default_rng(0)
    names = [f"host-{i}" for i in range(args.series)]
    feats = features(args.features)
    config = LSTMAEConfig(window=args.window, max_reservoir=args.reservoir, min_train_windows=args.reservoir,
                          epochs=args.epochs, patience=args.epochs, refresh_every=0, background=False, device="cpu")
    bank = LSTMAEBank(config)
    ones = np.ones(args.series, dtype=bool)

    started = time.perf_counter()
    steps = 0
    while bank.model(feats) is None:
        X = series_rows(rng, args.series, args.features, steps)
        bank.learn(names, X, feats, np.full(args.series, float(steps)), ones)
        steps += 1
    total = time.perf_counter() - started
    windows = bank.reservoir(feats)
    train_started = time.perf_counter()
    result = fit_windows(windows, config)
    train_s = time.perf_counter() - train_started
    print(f"lstm_ae  training: {len(windows)} windows (W={args.window}, F={args.features}), "
          f"{result.epochs_run} epochs in {train_s:.1f}s = {train_s / result.epochs_run:.2f}s/epoch "
          f"(first training inside learn: {total:.1f}s incl. {steps} warm-up steps)")
    learn_started = time.perf_counter()
    for _ in range(args.repeats):
        X = series_rows(rng, args.series, args.features, steps)
        bank.learn(names, X, feats, np.full(args.series, float(steps)), ones)
        steps += 1
    learn_s = (time.perf_counter() - learn_started) / args.repeats
    print(f"lstm_ae  learn: {args.series / learn_s:,.0f} points/s ({args.series} series per step, "
          f"every window offered to the reservoir)")

    X = series_rows(rng, args.series, args.features, steps)
    times = np.full(args.series, float(steps))
    bank.score(names, X, feats, times)  # warm the allocator
    reps = args.repeats
    started = time.perf_counter()
    for _ in range(reps):
        bank.score(names, X, feats, times)
    score_s = (time.perf_counter() - started) / reps
    model = bank.model(feats)
    z = torch.randn(args.series, args.window, args.features)
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(reps):
            model(z)
    forward_s = (time.perf_counter() - started) / reps
    print(f"lstm_ae  score: {args.series / score_s:,.0f} windows/s through the bank "
          f"({score_s * 1000:.1f} ms per step of {args.series} series); "
          f"bare forward pass {args.series / forward_s:,.0f} windows/s")
    state = bank.export_state(names[0])
    print(f"lstm_ae  state: {len(pickle.dumps(state))} bytes pickled per series "
          f"({state['points'].nbytes} of them the {args.window}x{args.features} float32 window)")


def bench_pyod(args: argparse.Namespace, model: str) -> None:
    from aiops.detectors.pyod_window import PyODBank, PyODConfig, fit_window

    rng = np.random.default_rng(1)
    n = args.pyod_series if model != "iforest" else min(args.pyod_series, args.iforest_series)
    names = [f"svc-{i}" for i in range(n)]
    feats = features(args.features)
    config = PyODConfig(model=model, window_size=args.pyod_window, min_points=args.pyod_window,
                        refit_every=10**6, background=False)
    points = rng.normal(size=(args.pyod_window, args.features))
    fit_window(config, points)  # first call imports and warms up the model's code
    reps = 20
    started = time.perf_counter()
    for _ in range(reps):
        fit_window(config, points)
    refit_ms = (time.perf_counter() - started) / reps * 1000

    bank = PyODBank(config)
    ones = np.ones(n, dtype=bool)
    for t in range(args.pyod_window):
        bank.learn(names, rng.normal(size=(n, args.features)), feats, np.full(n, float(t)), ones)
    X = rng.normal(size=(n, args.features))
    started = time.perf_counter()
    for _ in range(3):
        bank.score(names, X, feats, np.zeros(n))
    score_s = (time.perf_counter() - started) / 3
    state = bank.export_state(names[0])
    print(f"pyod {model:<7} refit {refit_ms:.1f} ms (window {args.pyod_window}x{args.features}); "
          f"score {n / score_s:,.0f} points/s ({n} series); state {len(pickle.dumps(state))} bytes per series")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiops.models.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--reservoir", type=int, default=2000, help="training windows (a full default reservoir)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--pyod-series", type=int, default=1000)
    parser.add_argument("--pyod-window", type=int, default=256)
    parser.add_argument("--iforest-series", type=int, default=100, help="iforest fits are slow: bench fewer series")
    parser.add_argument("--pyod", nargs="*", default=["ecod", "copod", "iforest"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu")
    bench_lstm(args)
    for model in args.pyod:
        bench_pyod(args, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
