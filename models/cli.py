"""Command line: ``aiops train`` fits an autoencoder on history files; ``aiops models list`` shows checkpoints.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="aiops")
>>> register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["train", "--data", "a.csv", "--out", "ckpt", "--epochs", "3"])
>>> args.window, args.hidden, args.latent, args.epochs, args.name, args.func.__name__
(8, 8, 4, 3, 'lstm_ae', 'train_handler')
>>> parser.parse_args(["models", "list", "--dir", "ckpt"]).func.__name__
'list_handler'
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Sequence

from aiops.detectors.core.errors import AiopsError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``models list`` to the product's command line."""
    from aiops.models.config import LSTMAEConfig

    shape = LSTMAEConfig()
    train = sub.add_parser("train", help="train an LSTM autoencoder on history CSV files and save a checkpoint")
    train.add_argument("--data", nargs="+", required=True, metavar="FILE", help="CSV files (',' or ';' separated)")
    train.add_argument("--out", required=True, metavar="DIR", help="checkpoint registry folder")
    train.add_argument("--window", type=int, default=shape.window)
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--hidden", type=int, default=shape.hidden)
    train.add_argument("--latent", type=int, default=shape.latent)
    train.add_argument("--no-reverse", action="store_true",
                       help="decoder in time order (default: backwards, so scoring the last point is one step)")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--features", nargs="+", default=None, help="feature columns (default: every numeric one)")
    train.add_argument("--name", default="lstm_ae", help="checkpoint name")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.set_defaults(func=train_handler)

    models = sub.add_parser("models", help="inspect saved model checkpoints")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="list checkpoints with their metadata")
    listing.add_argument("--dir", required=True, metavar="DIR", help="checkpoint registry folder")
    listing.set_defaults(func=list_handler)


def train_handler(args: argparse.Namespace) -> int:
    from aiops.models.config import LSTMAEConfig
    from aiops.models.registry import CheckpointRegistry
    from aiops.models.train import train_files

    try:
        config = LSTMAEConfig(
            window=args.window, epochs=args.epochs, hidden=args.hidden, latent=args.latent,
            batch_size=args.batch_size, device=args.device, reverse=not args.no_reverse,
        )
        result, meta = train_files(args.data, config, args.features)
        version = CheckpointRegistry(args.out).save(result.model, {"name": args.name, **meta})
    except (AiopsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"saved {args.name} version {version} to {args.out}: {meta['n_windows']} windows, "
        f"{result.epochs_run} epochs, validation error {result.val_error:.5f}, {result.seconds:.1f}s on {result.device}"
    )
    return 0


def list_handler(args: argparse.Namespace) -> int:
    from aiops.models.registry import CheckpointRegistry

    try:
        metas = CheckpointRegistry(args.dir).list()
    except AiopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not metas:
        print(f"no checkpoints in {args.dir}")
        return 0
    print(f"{'name':<20} {'version':>7} {'window':>6} {'windows':>8} {'val_error':>10}  {'data range (UTC)':<35} "
          f"{'from':<8}created  features")
    for m in metas:
        span = f"{_stamp(m.data_first)}/{_stamp(m.data_last)}"  # an ISO 8601 interval
        val = f"{m.val_error:.5f}" if m.val_error is not None else "-"
        print(f"{m.name:<20} {m.version:>7} {m.window:>6} {m.n_windows:>8} {val:>10}  {span:<35} "
              f"{m.trained_from:<8}{m.created_at}  "
              f"{','.join(m.features)}")
    return 0


def _stamp(value: float | None) -> str:
    if value is None:
        return "?"
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")  # ISO 8601, to the minute


def main(argv: Sequence[str] | None = None) -> int:
    """Run these commands on their own: ``python -m aiops.models.cli train ...``."""
    parser = argparse.ArgumentParser(prog="aiops")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
