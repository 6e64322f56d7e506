"""Benchmark of the LSTM-AE and PyOD banks: prints throughput, training/refit times and state size.

    python -m aiops.models.evaluation.bench                 # the default LSTM-AE shape, univariate series, no PyOD
    python -m aiops.models.evaluation.bench --window 32 --hidden 32 --latent 8 --no-reverse   # the shape before
    python -m aiops.models.evaluation.bench --shapes 32x32x8 16x16x4 16x8x4    # error on SKAB anomaly-free vs cost
    python -m aiops.models.evaluation.bench --engine        # the detection engine with and without lstm_ae, training in the
                                                 # training process or in a thread, or retraining all the while
    python -m aiops.models.evaluation.bench --pyod ecod copod iforest --features 8

Numbers depend on the machine and its load; run it on an idle one.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
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


def bench_model(args: argparse.Namespace, config: LSTMAEConfig) -> None:
    """Windows/s of the bare model at a batch of ``--series`` windows: the last point only, and the whole window."""
    from aiops.models.lstm_ae import LSTMAutoencoder

    model = LSTMAutoencoder(args.features, config.window, config.hidden, config.latent, reverse=config.reverse).eval()
    z = torch.randn(args.series, config.window, args.features)
    rates = []
    for fn in (model.reconstruct_last, model):
        with torch.inference_mode():
            fn(z)
            reps = max(3, 20_000 // args.series)
            started = time.perf_counter()
            for _ in range(reps):
                fn(z)
        rates.append(args.series * reps / (time.perf_counter() - started))
    print(f"lstm_ae  model W={config.window} H={config.hidden} L={config.latent} F={args.features} "
          f"reverse={config.reverse}: {rates[0]:,.0f} windows/s scoring the last point, "
          f"{rates[1]:,.0f} windows/s reconstructing whole windows (batches of {args.series})")


def trained_bank(config: LSTMAEConfig, names: list[str], feats: list[str], rng: np.random.Generator):
    """A bank that trained itself inline on the series' first windows; returns it and the next step number."""
    from aiops.models.detector import LSTMAEBank

    bank = LSTMAEBank(config)
    ones = np.ones(len(names), dtype=bool)
    step = 0
    while bank.model(feats) is None:
        X = series_rows(rng, len(names), len(feats), step)
        bank.learn(names, X, feats, np.full(len(names), float(step)), ones)
        step += 1
    return bank, step


def bench_bank(args: argparse.Namespace, config: LSTMAEConfig, n_series: int) -> None:
    """Points/s through score() then learn() per step, as the engine calls them, with a trained model."""
    rng = np.random.default_rng(0)
    names = [f"host-{i}" for i in range(n_series)]
    feats = features(args.features)
    bank, step = trained_bank(config, names, feats, rng)
    ones = np.ones(n_series, dtype=bool)
    steps = max(20, min(args.points // n_series, args.max_steps))
    data = [series_rows(rng, n_series, args.features, step + k) for k in range(steps)]
    score_s = learn_s = 0.0
    for k, X in enumerate(data):
        times = np.full(n_series, float(step + k))
        t0 = time.perf_counter()
        bank.score(names, X, feats, times)
        t1 = time.perf_counter()
        bank.learn(names, X, feats, times, ones)
        t2 = time.perf_counter()
        score_s += t1 - t0
        learn_s += t2 - t1
    points = steps * n_series
    total = score_s + learn_s
    print(f"lstm_ae  bank {n_series:>5} series x {args.features} feature(s): {points / total:,.0f} points/s "
          f"score+learn ({total / points * 1e6:.1f} us/point: score {score_s / points * 1e6:.1f}, "
          f"learn {learn_s / points * 1e6:.1f}; {steps} steps)")
    if n_series == max(args.bank_series):
        during_training(bank, config, names, feats, data, step)
        state_bytes(bank, names, feats)


def during_training(bank, config: LSTMAEConfig, names: list[str], feats: list[str], data: list[np.ndarray],
                    step: int) -> None:
    """The same steps while a training of the full reservoir runs: in a thread of this process (the GIL is
    shared), then in the training process (started and warm before timing)."""
    import threading

    from aiops.models.train_worker import acquire_shared_worker, release_shared_worker

    windows = bank.reservoir(feats)
    endless = config.model_copy(update={"epochs": 10_000, "patience": 10_000})
    stop = threading.Event()

    def train() -> None:
        while not stop.is_set():
            fit_windows(windows, endless.model_copy(update={"epochs": 1}))

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    rate = timed_steps(bank, names, feats, data, step)
    stop.set()
    thread.join()
    print(f"lstm_ae  bank {len(names):>5} series while a thread of this process trains: {rate:,.0f} points/s")
    worker = acquire_shared_worker()
    try:
        worker.submit(windows[:100], config).wait(120)
        job = worker.submit(windows, endless)
        rate = timed_steps(bank, names, feats, data, step)
        assert not job.poll(), "the training ended before the timed steps did"
    finally:
        worker.close()
        release_shared_worker()
    print(f"lstm_ae  bank {len(names):>5} series while the training process trains: {rate:,.0f} points/s")


def timed_steps(bank, names: list[str], feats: list[str], data: list[np.ndarray], step: int) -> float:
    """Points/s of score() then learn() over the given steps."""
    ones = np.ones(len(names), dtype=bool)
    started = time.perf_counter()
    for k, X in enumerate(data):
        times = np.full(len(names), float(step + k))
        bank.score(names, X, feats, times)
        bank.learn(names, X, feats, times, ones)
    return len(data) * len(names) / (time.perf_counter() - started)


def bench_engine(args: argparse.Namespace) -> None:
    """The whole detection engine: the default detectors, then the same plus lstm_ae (defaults).

    Torch is imported before timing (the engine imports a bank when a series first needs it). ``+ lstm_ae`` includes
    the bank's first training in the timed stretch (in the training process, the default; ``thread``: in a thread of
    this process); ``trained`` starts from a checkpoint, i.e. the steady state between two trainings; ``retraining``
    starts from it too and retrains every ``--engine-refresh`` windows, so a training runs through the whole stretch.
    The training process is started (and warm) before the first line, as in a worker that has trained before; between
    two lines, what the previous line left training is waited for.
    """
    import tempfile

    from aiops.detectors.config import DetectionConfig, DetectorSpec
    from aiops.detectors.evaluation.bench import bench_throughput
    from aiops.models.data import sliding_windows
    from aiops.models.registry import CheckpointRegistry
    from aiops.models.train_worker import acquire_shared_worker, release_shared_worker

    base = DetectionConfig()
    rng = np.random.default_rng(0)
    walk = np.sin(np.arange(4000) / 50.0)[:, None] + 0.2 * rng.normal(size=(4000, 1))
    warm_up = sliding_windows(walk, LSTMAEConfig().window)
    model = fit_windows(warm_up, LSTMAEConfig(epochs=2, device="cpu")).model
    swaps = watch_swaps()
    worker = acquire_shared_worker()
    try:
        worker.submit(warm_up[:100], LSTMAEConfig(epochs=1, device="cpu")).wait(120)
        with tempfile.TemporaryDirectory() as root:
            CheckpointRegistry(root).save(model, {"name": "bench", "features": ["value"], "window": model.window})
            trained = {"checkpoint": {"dir": root, "name": "bench"}}
            retrain = {**trained, "refresh_every": args.engine_refresh}
            runs = (("default detectors", None), ("+ lstm_ae", {}), ("+ lstm_ae, thread", {"train_in": "thread"}),
                    ("+ lstm_ae, trained", trained), ("+ lstm_ae, retraining", retrain),
                    ("+ lstm_ae, retraining, thread", {**retrain, "train_in": "thread"}))
            for label, params in runs:
                extra = [] if params is None else [DetectorSpec(type="lstm_ae", params=params)]
                config = base.model_copy(update={"detectors": [*base.detectors, *extra]})
                swaps.clear()
                started = time.perf_counter()
                via_events, via_arrays, state = bench_throughput(args.engine_series, args.engine_points, config)
                swapped = f"{len(swaps)} model(s) swapped in" + (
                    f", the first after {swaps[0] - started:.1f} s" if swaps else "")
                print(f"engine   {label:<29} {args.engine_series} series: {via_events:>9,.0f} points/s through "
                      f"process(), {via_arrays:>9,.0f} points/s array path; state {state:,} bytes per univariate "
                      f"series{'; ' + swapped if params is not None else ''}")
                wait_for_trainings(worker)
    finally:
        release_shared_worker()


def watch_swaps() -> list[float]:
    """Keep the program's logs to warnings and above, noting when an lstm_ae model is swapped in."""
    swaps: list[float] = []

    def note(logger: object, method: str, event: dict) -> dict:
        if event.get("event") == "lstm_ae.model_swapped":
            swaps.append(time.perf_counter())
        if method in ("debug", "info"):
            raise structlog.DropEvent
        return event

    structlog.configure(processors=[note, structlog.dev.ConsoleRenderer()],
                        wrapper_class=structlog.make_filtering_bound_logger(20))
    return swaps


def wait_for_trainings(worker, timeout: float = 300.0) -> None:
    """Wait until no training thread of a bank runs and the training process has answered every job."""
    import threading

    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name == "lstm-ae-train":
            thread.join(max(0.0, deadline - time.monotonic()))
    while worker.busy and time.monotonic() < deadline:
        worker.poll()
        time.sleep(0.05)


def state_bytes(bank, names: list[str], feats: list[str]) -> None:
    """Memory per series: its rows of the bank's arrays plus its two dictionary entries, and the exported state."""
    group = bank._groups[tuple(feats)]
    arrays = sum(getattr(group, a).nbytes for a in ("buf", "mean", "m2", "count", "seen", "dirty")) / group.capacity
    dicts = (sys.getsizeof(group.slots) + sys.getsizeof(bank._series)) / len(names)
    state = bank.export_state(names[0])
    print(f"lstm_ae  state per series: {arrays:.0f} bytes of arrays + {dicts:.0f} bytes of dictionary entries "
          f"(series names not counted); exported {len(pickle.dumps(state))} bytes pickled; shared per signature: "
          f"model and reservoir {group.reservoir.nbytes / 1e6:.1f} MB")


def bench_shapes(args: argparse.Namespace) -> None:
    """Reconstruction error of held-out SKAB anomaly-free windows against scoring cost, per model shape."""
    from aiops.detectors.evaluation.datasets import SKAB
    from aiops.models.data import History, read_history
    from aiops.models.lstm_ae import LSTMAutoencoder
    from aiops.models.train import windows_from_histories

    free = read_history(SKAB.locate(args.data) / "anomaly-free" / "anomaly-free.csv")
    cut = int(len(free.values) * 0.8)
    print(f"shapes: trained on the first {cut} rows of SKAB anomaly-free, errors on the other "
          f"{len(free.values) - cut} (standard units; each series standardised on its training part; at most "
          f"{args.shape_windows} windows drawn for each)")
    print(f"{'W':>4}{'H':>4}{'L':>4}  {'multivariate (8 features)':>27}  {'univariate (8 series)':>27}  "
          f"{'windows/s F=1':>14}  train s")
    print(f"{'':12}  {'last-point':>13} {'window':>13}  {'last-point':>13} {'window':>13}")
    for shape in args.shapes:
        w, h, latent = (int(v) for v in shape.split("x"))
        config = LSTMAEConfig(window=w, hidden=h, latent=latent, epochs=args.shape_epochs, patience=3, device="cpu")
        cells = []
        started = time.perf_counter()
        for columns in ([list(range(free.values.shape[1]))], [[c] for c in range(free.values.shape[1])]):
            train, test = [], []
            for cols in columns:
                values = free.values[:, cols]
                mean, std = values[:cut].mean(axis=0), values[:cut].std(axis=0) + 1e-9
                z = (values - mean) / std
                train.append(History("train", [str(c) for c in cols], free.times[:cut], z[:cut]))
                test.append(History("test", [str(c) for c in cols], free.times[cut:], z[cut:]))
            pick = np.random.default_rng(0)
            windows = windows_from_histories(train, w)
            windows = windows[np.sort(pick.permutation(len(windows))[: args.shape_windows])]
            model = fit_windows(windows, config).model
            x = np.concatenate([sliding(t.values, w) for t in test])
            x = torch.from_numpy(x[np.sort(pick.permutation(len(x))[: args.shape_windows])])
            with torch.inference_mode():
                last = float(((model.reconstruct_last(x) - x[:, -1]) ** 2).mean())
                whole = float(((model(x) - x) ** 2).mean())
            cells += [last, whole]
        train_s = time.perf_counter() - started
        uni = LSTMAutoencoder(1, w, h, latent, reverse=True).eval()
        z = torch.randn(1000, w, 1)
        with torch.inference_mode():
            uni.reconstruct_last(z)
            started = time.perf_counter()
            for _ in range(10):
                uni.reconstruct_last(z)
        rate = 10_000 / (time.perf_counter() - started)
        print(f"{w:>4}{h:>4}{latent:>4}  {cells[0]:>13.4f} {cells[1]:>13.4f}  {cells[2]:>13.4f} {cells[3]:>13.4f}  "
              f"{rate:>14,.0f}  {train_s:.0f}")


def sliding(values: np.ndarray, window: int) -> np.ndarray:
    from aiops.models.data import sliding_windows

    return sliding_windows(values, window)


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
    defaults = LSTMAEConfig()
    parser = argparse.ArgumentParser(prog="python -m aiops.models.evaluation.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000, help="batch of the bare model benchmark")
    parser.add_argument("--bank-series", type=int, nargs="+", default=[1, 1000], help="series per bank step")
    parser.add_argument("--points", type=int, default=100_000, help="points timed per bank benchmark")
    parser.add_argument("--max-steps", type=int, default=3000, help="most steps timed per bank benchmark")
    parser.add_argument("--features", type=int, default=1)
    parser.add_argument("--window", type=int, default=defaults.window)
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--latent", type=int, default=defaults.latent)
    parser.add_argument("--no-reverse", action="store_true", help="decoder in time order (the shape before)")
    parser.add_argument("--score-on", choices=["last", "window"], default=defaults.score_on)
    parser.add_argument("--reservoir", type=int, default=512, help="windows the bank trains on before timing")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--shapes", nargs="*", default=[], metavar="WxHxL", help="compare model shapes on SKAB")
    parser.add_argument("--shape-epochs", type=int, default=10)
    parser.add_argument("--shape-windows", type=int, default=4000, help="most windows trained on and tested per shape")
    parser.add_argument("--data", type=Path, default=None,
                        help="SKAB folder (default: $AIOPS_DATA_DIR/skab if set, "
                             "else ./data/skab or ../shared/data/skab)")
    parser.add_argument("--engine", action="store_true", help="the whole engine with and without lstm_ae")
    parser.add_argument("--engine-series", type=int, default=1000)
    parser.add_argument("--engine-points", type=int, default=200_000)
    parser.add_argument("--engine-refresh", type=int, default=2000, help="windows between two retrainings")
    parser.add_argument("--pyod-series", type=int, default=1000)
    parser.add_argument("--pyod-window", type=int, default=256)
    parser.add_argument("--iforest-series", type=int, default=100, help="iforest fits are slow: bench fewer series")
    parser.add_argument("--pyod", nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    config = LSTMAEConfig(window=args.window, hidden=args.hidden, latent=args.latent, reverse=not args.no_reverse,
                          score_on=args.score_on, max_reservoir=args.reservoir, min_train_windows=args.reservoir,
                          epochs=args.epochs, patience=args.epochs, refresh_every=0, background=False,
                          device="cpu", torch_threads=args.threads)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu")
    if args.shapes:
        bench_shapes(args)
        return 0
    if args.engine:
        bench_engine(args)
        return 0
    bench_model(args, config)
    for n in args.bank_series:
        bench_bank(args, config, n)
    for model in args.pyod:
        bench_pyod(args, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
