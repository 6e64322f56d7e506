"""The LSTM autoencoder as a detector bank: one model per feature signature, many series.

Each series keeps a ring of its last ``window`` raw points and its running
mean and variance (Welford); the window ending at the current point is
standardised with those and reconstructed, and the squared reconstruction
error of the current point (or of the whole window) is the raw score. Every
row of a step is scored in one forward pass.

Series with the same feature names share one model. It comes from a registry
checkpoint, or is trained here: learned points fill a bounded reservoir of
normal windows, and after ``min_train_windows`` a model is trained, then
retrained after every ``refresh_every`` new windows (or ``refresh_seconds``).
Training runs in a spawned child process (``train_in="process"``, the
default; see ``aiops.models.train_worker``), whose result ``score`` and
``learn`` pick up without waiting; in a thread of this process
(``train_in="thread"``); or inline with ``background=False`` (tests,
backtests). A new model replaces the old one in a single reference swap:
scoring never waits for training. A training that fails (or whose child
dies) is logged, the old model keeps scoring, and the next one starts when
it is due again, ``retry_seconds`` later at the soonest. ``close()`` (and the
exit of the program) stops the child process. With ``save_to`` set, every
model trained here is written to that checkpoint registry (by the training
process, when it trained it; as ``NAME.SIGNATURE``, see ``saved_name``), and
a bank started later loads the newest saved model of a signature instead of
training again.

The child is started with ``spawn``, which imports the program's main module
again in the child: a script that builds this bank must keep its work under
``if __name__ == "__main__":`` (console scripts and ``python -m`` modules do).

Scoring the current point costs the encoder's ``window`` steps and, with the
reversed decoder (``reverse``, the default), one decoder step per row. Torch
releases the GIL inside its kernels, so a caller could run this bank's
``score`` in a worker thread while the numpy banks score the same step.

>>> import numpy as np
>>> from structlog.testing import capture_logs
>>> feats = ["v"]
>>> with capture_logs():
...     bank = LSTMAEBank(window=8, hidden=8, latent=2, epochs=1, min_train_windows=20,
...                       refresh_every=0, background=False, device="cpu")
...     for t in range(40):
...         X = np.array([[np.sin(t / 3)], [np.cos(t / 3)]])
...         bank.learn(["a", "b"], X, feats, np.array([t, t]), np.array([True, True]))
>>> bank.warm(["a", "b", "unknown"]).tolist()
[True, True, False]
>>> scores = bank.score(["a", "b"], np.array([[0.1], [25.0]]), feats, np.array([40, 40]))
>>> bool(scores.raw[1] > scores.raw[0])
True
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import structlog
import torch
from pydantic import ValidationError

from aiops.detectors.base import BankInputError, BankScores, check_rows
from aiops.detectors.core.errors import ConfigError
from aiops.models.config import LSTMAEConfig, SaveRef
from aiops.models.device import autocast_for, select_device
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.registry import CheckpointRegistry
from aiops.models.train import fit_windows
from aiops.models.train_worker import (
    SavePlan,
    TrainingJob,
    TrainingOutcome,
    TrainingWorker,
    acquire_shared_worker,
    release_shared_worker,
)

log = structlog.get_logger(__name__)

STD_FLOOR = 1e-6
Z_CLIP = 1e3


def saved_name(save_to: SaveRef, features: Sequence[str]) -> str:
    """The registry name of one signature's self-trained models: ``NAME.`` and a digest of the feature names.

    >>> saved_name(SaveRef(dir="/var/aiops/models", name="online"), ["cpu.user"])
    'online.7fbe9f4c466f'
    """
    digest = hashlib.sha256("\x1f".join(features).encode()).hexdigest()[:12]
    return f"{save_to.name}.{digest}"


@dataclass(slots=True)
class FittedModel:
    """A model ready to score, with the residual sigma per feature (standardised units)."""

    model: LSTMAutoencoder
    version: int
    residual_std: np.ndarray
    source: str


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """How a signature's current model was trained: where (``inline``, ``thread``, ``process``), by which pid."""

    where: str
    pid: int
    version: int
    windows: int
    val_error: float
    seconds: float


@dataclass
class SignatureGroup:
    """All series sharing one list of feature names, their shared model and its reservoir."""

    features: tuple[str, ...]
    window: int
    max_reservoir: int
    seed: int
    capacity: int = 0
    slots: dict[str, int] = field(default_factory=dict)
    free: list[int] = field(default_factory=list)
    fitted: FittedModel | None = None
    training: bool = False
    failed_at: float = float("-inf")
    report: TrainingReport | None = None
    new_windows: int = 0
    offered: int = 0
    filled: int = 0
    last_train: float = field(default_factory=time.monotonic)
    versions: int = 0
    prior: tuple[np.ndarray, np.ndarray, int] | None = None
    first_time: float = float("inf")
    last_time: float = float("-inf")
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        f, w = len(self.features), self.window
        self.buf = np.zeros((0, w, f), dtype=np.float32)
        self.mean = np.zeros((0, f))
        self.m2 = np.zeros((0, f))
        self.count = np.zeros(0, dtype=np.int64)
        self.seen = np.zeros(0, dtype=np.int64)
        self.dirty = np.zeros(0, dtype=np.int64)
        self.reservoir = np.zeros((self.max_reservoir, w, f), dtype=np.float32)
        self.rng = np.random.default_rng(self.seed)

    def slots_of(self, series: Sequence[str]) -> np.ndarray:
        """The rows of known series, -1 for the others (nothing is allocated)."""
        get = self.slots.get
        return np.array([get(s, -1) for s in series], dtype=np.int64)

    def ready(self, slots: np.ndarray, window: int) -> np.ndarray:
        """Which of these slots (-1 allowed) have a full window once the current point is added."""
        ok = slots >= 0
        if not ok.any():
            return ok
        safe = np.where(ok, slots, 0)
        return ok & (self.seen[safe] >= window - 1) & (self.count[safe] >= 2)

    def slot_of(self, series_id: str) -> int:
        """The row of a series in the per-series arrays, allocating one if new."""
        slot = self.slots.get(series_id)
        if slot is not None:
            return slot
        if not self.free:
            self._grow()
        slot = self.free.pop()
        self.slots[series_id] = slot
        if self.prior is not None:
            mean, std, weight = self.prior
            self.mean[slot], self.m2[slot], self.count[slot] = mean, std**2 * weight, weight
        return slot

    def _grow(self) -> None:
        old = self.capacity
        new = max(16, old * 2)
        for name in ("buf", "mean", "m2", "count", "seen", "dirty"):
            arr = getattr(self, name)
            grown = np.zeros((new,) + arr.shape[1:], dtype=arr.dtype)
            grown[:old] = arr
            setattr(self, name, grown)
        self.capacity = new
        self.free.extend(range(new - 1, old - 1, -1))

    def release(self, series_id: str) -> None:
        slot = self.slots.pop(series_id, None)
        if slot is None:
            return
        self.buf[slot] = 0
        self.mean[slot] = self.m2[slot] = 0
        self.count[slot] = self.seen[slot] = self.dirty[slot] = 0
        self.free.append(slot)

    def std(self, idx: np.ndarray) -> np.ndarray:
        n = np.maximum(self.count[idx], 1)[:, None]
        return np.maximum(np.sqrt(self.m2[idx] / n), STD_FLOOR)

    def standardise(self, windows: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Windows (n, W, F) in their series' standard units, float32, clipped; ``windows`` is overwritten."""
        z = np.asarray(windows, dtype=np.float32)
        z -= self.mean[idx].astype(np.float32)[:, None, :]
        z *= (1.0 / self.std(idx)).astype(np.float32)[:, None, :]
        return np.clip(z, -Z_CLIP, Z_CLIP, out=z)

    def offer(self, slots: np.ndarray) -> None:
        """Reservoir sampling (algorithm R) of the slots' current windows, each offered window kept with equal chance.

        Where each window would go is drawn first, so only the windows kept are standardised and copied.
        """
        k, size = len(slots), self.max_reservoir
        position = self.offered + np.arange(1, k + 1)
        target = position - 1
        late = position > size
        if late.any():
            target[late] = self.rng.integers(0, position[late])
        kept = target < size
        if kept.any():
            chosen = slots[kept]  # duplicate targets: the later window wins, as in the sequential algorithm
            self.reservoir[target[kept]] = self.standardise(self.buf[chosen], chosen)
        self.offered += k
        self.filled = min(size, self.offered)
        self.new_windows += k


class LSTMAEBank:
    """``DetectorBank`` over an LSTM autoencoder; see the module docstring."""

    name = "lstm_ae"
    joint = True  # reconstructs whole windows of rows
    abstains_when_cold = True  # no model yet: no say in the ensemble (not even the 0.5 of "no opinion")

    def __init__(self, config: LSTMAEConfig | None = None, **params: Any) -> None:
        try:
            self.config = config if config is not None else LSTMAEConfig(**params)
        except ValidationError as exc:
            raise ConfigError(f"invalid lstm_ae settings: {exc}") from None
        self.device = select_device(self.config.device)
        threads = self.config.torch_threads
        if threads and self.device.type == "cpu" and torch.get_num_threads() != threads:
            log.info("lstm_ae.torch_threads", threads=threads, was=torch.get_num_threads())
            torch.set_num_threads(threads)
        self.window = self.config.window
        self._groups: dict[tuple[str, ...], SignatureGroup] = {}
        self._series: dict[str, tuple[str, ...]] = {}
        self._threads: list[threading.Thread] = []
        self._jobs: dict[tuple[str, ...], TrainingJob] = {}
        self._jobs_lock = threading.Lock()
        self._worker: TrainingWorker | None = None
        self._worker_held = False
        self._groups_lock = threading.Lock()
        if self.config.checkpoint is not None:
            self._load_checkpoint()

    @staticmethod
    def applies_to(n_features: int, params: dict[str, Any]) -> bool:
        """Whether a group of series with this many features gets this bank (``min_features``).

        >>> LSTMAEBank.applies_to(1, {"min_features": 2}), LSTMAEBank.applies_to(4, {"min_features": 2})
        (False, True)
        """
        return n_features >= int(params.get("min_features", 1))

    # -- the DetectorBank protocol ---------------------------------------------------------

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        if self._jobs:
            self._collect_jobs()
        X = check_rows(series, X, features)
        n, f = X.shape
        raw = np.zeros(n)
        per_feature = np.zeros((n, f))
        low = np.full((n, f), np.nan)
        high = np.full((n, f), np.nan)
        group = self._groups.get(tuple(features))
        fitted = group.fitted if group is not None else None
        if group is None or fitted is None or n == 0:
            return BankScores(raw, per_feature, low, high)
        w = self.window
        with group.lock:
            slots = group.slots_of(series)
            rows = np.flatnonzero(group.ready(slots, w))
            if not len(rows):
                return BankScores(raw, per_feature, low, high)
            idx = slots[rows]
            windows = np.empty((len(rows), w, f), dtype=np.float32)
            windows[:, :-1] = group.buf[idx, 1:]
            windows[:, -1] = X[rows]
            z = group.standardise(windows, idx)
            mean, std = group.mean[idx], group.std(idx)
        if self.config.score_on == "last":
            recon_last = self._reconstruct_last(fitted.model, z)
            contrib = (recon_last - z[:, -1]) ** 2
        else:
            recon = self._reconstruct(fitted.model, z)
            contrib = ((recon - z) ** 2).mean(axis=1)
            recon_last = recon[:, -1]
        per_feature[rows] = contrib
        raw[rows] = contrib.mean(axis=1)
        centre = recon_last * std + mean
        spread = self.config.expected_k * fitted.residual_std[None, :] * std
        low[rows] = centre - spread
        high[rows] = centre + spread
        return BankScores(raw, per_feature, low, high)

    def learn(
        self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray, mask: np.ndarray
    ) -> None:
        if self._jobs:
            self._collect_jobs()
        X = check_rows(series, X, features)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(series),):
            raise BankInputError(f"mask must have one flag per row ({len(series)}), got shape {mask.shape}")
        if len(series) == 0:
            return
        group = self._group_for(tuple(features))
        with group.lock:
            idx = group.slots_of(series)
            if (idx < 0).any():
                idx = np.array([self._slot(group, s) for s in series], dtype=np.int64)
            self._push(group, idx, X, mask)
            learned = idx[mask]
            if len(learned):
                limit = self.config.stats_limit
                if limit is None:
                    self._update_stats(group, learned, X[mask])
                else:
                    open_rows = group.count[learned] < limit
                    self._update_stats(group, learned[open_rows], X[mask][open_rows])
                ready = learned[(group.seen[learned] >= self.window) & (group.dirty[learned] == 0)]
                if len(ready):
                    group.offer(ready)
                    self._note_times(group, np.asarray(times, dtype=np.float64)[mask])
        self._maybe_train(group)

    def warm(self, series: Sequence[str]) -> np.ndarray:
        """True where the series' signature has a model and its window is full once the next point comes."""
        out = np.zeros(len(series), dtype=bool)
        get = self._series.get
        signatures = {get(s) for s in series}
        signatures.discard(None)
        for features in signatures:
            group = self._groups.get(features)  # type: ignore[arg-type]
            if group is None or group.fitted is None:
                continue
            slots = group.slots_of(series)  # series of other signatures are not in this group's slots
            out |= group.ready(slots, self.window)
        return out

    def export_state(self, series_id: str) -> object | None:
        group = self._groups.get(self._series.get(series_id, ()))
        if group is None or series_id not in group.slots:
            return None
        with group.lock:
            s = group.slots[series_id]
            seen = int(group.seen[s])
            return {
                "features": list(group.features),
                "points": group.buf[s, self.window - seen :].copy(),
                "mean": group.mean[s].copy(),
                "m2": group.m2[s].copy(),
                "count": int(group.count[s]),
                "dirty": int(group.dirty[s]),
            }

    def import_state(self, series_id: str, state: object) -> None:
        try:
            data = dict(state)  # type: ignore[call-overload]
            features = tuple(data["features"])
            points = np.asarray(data["points"], dtype=np.float32)
            mean = np.asarray(data["mean"], dtype=np.float64)
            m2 = np.asarray(data["m2"], dtype=np.float64)
            count, dirty = int(data["count"]), int(data["dirty"])
        except (TypeError, KeyError, ValueError) as exc:
            raise BankInputError(f"unreadable lstm_ae state for {series_id!r}: {exc}") from None
        f = len(features)
        if points.ndim != 2 or points.shape[1] != f or mean.shape != (f,) or m2.shape != (f,):
            raise BankInputError(f"lstm_ae state for {series_id!r} does not match its {f} features")
        points = points[-self.window :]
        self.forget(series_id)
        group = self._group_for(features)
        with group.lock:
            s = self._slot(group, series_id)
            group.buf[s] = 0
            if len(points):
                group.buf[s, self.window - len(points) :] = points
            group.seen[s] = len(points)
            group.mean[s], group.m2[s] = mean, m2
            group.count[s], group.dirty[s] = count, dirty

    def forget(self, series_id: str) -> None:
        features = self._series.pop(series_id, None)
        group = self._groups.get(features) if features is not None else None
        if group is not None:
            with group.lock:
                group.release(series_id)

    # -- model lifecycle -------------------------------------------------------------------

    def model_version(self, features: Sequence[str]) -> int:
        """How many models the signature has had (0: none yet); grows at every swap."""
        group = self._groups.get(tuple(features))
        return group.fitted.version if group is not None and group.fitted is not None else 0

    def model(self, features: Sequence[str]) -> LSTMAutoencoder | None:
        """The model currently scoring series with these feature names, if any."""
        group = self._groups.get(tuple(features))
        return group.fitted.model if group is not None and group.fitted is not None else None

    def training(self, features: Sequence[str]) -> bool:
        """Whether a model of this signature is being trained now."""
        group = self._groups.get(tuple(features))
        return group is not None and group.training

    @property
    def training_pid(self) -> int | None:
        """The pid of the training process this bank hands its trainings to, while it runs."""
        worker = self._worker if self._worker_held else None
        return worker.pid if worker is not None else None

    def last_training(self, features: Sequence[str]) -> TrainingReport | None:
        """How the signature's current model was trained here (None: no model, or one loaded from a registry)."""
        group = self._groups.get(tuple(features))
        return group.report if group is not None else None

    def reservoir(self, features: Sequence[str]) -> np.ndarray:
        """A copy of the normal windows kept for training this signature's model (n, W, F)."""
        group = self._groups.get(tuple(features))
        if group is None:
            return np.zeros((0, self.window, len(features)), dtype=np.float32)
        with group.lock:
            return group.reservoir[: group.filled].copy()

    def save_checkpoint(self, root: str, name: str, features: Sequence[str]) -> int:
        """Save the signature's current model to a checkpoint registry (to start from it after a restart)."""
        group = self._groups.get(tuple(features))
        fitted = group.fitted if group is not None else None
        if group is None or fitted is None:
            raise ConfigError(f"no model yet for features {list(features)}")
        meta = {
            "name": name,
            "features": list(group.features),
            "window": self.window,
            "n_windows": group.filled,
            "residual_std": fitted.residual_std.tolist(),
            "device": self.device.type,
            "trained_from": "online" if fitted.source == "trained" else "history",
        }
        return CheckpointRegistry(root).save(fitted.model, meta)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for background trainings to finish and swap their models in; True when none is running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        self._threads = [t for t in self._threads if t.is_alive()]
        while self._jobs and (deadline is None or time.monotonic() < deadline):
            self._collect_jobs()
            if self._jobs:
                time.sleep(0.01)
        return not self._threads and not self._jobs

    def close(self, timeout: float | None = None) -> None:
        """Let running trainings finish (their models are swapped in), then let the training process go.

        The process is shared by the banks of this program and stops with the last of them (or at exit); a
        training still running after ``timeout`` seconds is abandoned.
        """
        self.wait_idle(timeout)
        with self._jobs_lock:
            for features in list(self._jobs):
                self._jobs.pop(features)
                self._groups[features].training = False
            if self._worker_held:
                self._worker_held = False
                release_shared_worker()

    def _load_checkpoint(self) -> None:
        ref = self.config.checkpoint
        assert ref is not None
        model, meta = CheckpointRegistry(ref.dir).load(ref.name, ref.version)
        if meta.window != self.window:
            log.info("lstm_ae.window_from_checkpoint", configured=self.window, checkpoint=meta.window)
            self.window = meta.window
        group = self._group_for(tuple(meta.features))
        if group.fitted is not None:
            log.info("lstm_ae.checkpoint_superseded", name=ref.name, by=group.fitted.source)
            return
        residual = np.asarray(meta.residual_std or [1.0] * len(meta.features), dtype=np.float64)
        group.versions = 1
        if self.config.prior_weight and meta.data_mean is not None and meta.data_std is not None:
            std = np.maximum(np.asarray(meta.data_std), STD_FLOOR)
            group.prior = (np.asarray(meta.data_mean, dtype=np.float64), std, self.config.prior_weight)
        group.fitted = FittedModel(model.to(self.device).eval(), 1, residual, f"{ref.name}:{meta.version}")
        log.info("lstm_ae.checkpoint_loaded", name=ref.name, version=meta.version, features=meta.features)

    def _load_saved(self, group: SignatureGroup, save_to: SaveRef) -> None:
        """Start a new signature from its newest usable self-trained model, if one was saved."""
        name = saved_name(save_to, group.features)
        registry = CheckpointRegistry(save_to.dir)
        versions = registry.versions(name)
        for version in reversed(versions):
            try:
                model, meta = registry.load(name, version)
                if tuple(meta.features) != group.features or meta.window != self.window:
                    raise ConfigError(f"checkpoint {name!r} version {version} is for features {meta.features} and "
                                      f"window {meta.window}, not {list(group.features)} and window {self.window}")
            except ConfigError as exc:
                log.warning("lstm_ae.saved_model_unusable", name=name, version=version, error=str(exc))
                continue
            residual = np.asarray(meta.residual_std or [1.0] * len(meta.features), dtype=np.float64)
            group.versions = meta.version
            group.fitted = FittedModel(model.to(self.device).eval(), meta.version, residual, f"{name}:{version}")
            group.last_train = time.monotonic()
            log.info("lstm_ae.saved_model_loaded", name=name, version=version, features=meta.features,
                     val_error=meta.val_error, dir=save_to.dir)
            return
        if versions:
            log.warning("lstm_ae.training_afresh", name=name, reason="no usable saved model", tried=len(versions))

    def _save_trained(self, group: SignatureGroup, save_to: SaveRef, model: LSTMAutoencoder, val_error: float,
                      residual_std: np.ndarray, n_windows: int) -> None:
        """Write a model trained here to the registry; a failed write is logged and the stream goes on."""
        finite = np.isfinite([group.first_time, group.last_time]).all()
        meta = {
            "name": saved_name(save_to, group.features),
            "features": list(group.features),
            "window": self.window,
            "data_first": group.first_time if finite else None,
            "data_last": group.last_time if finite else None,
            "n_windows": n_windows,
            "val_error": val_error,
            "residual_std": residual_std.tolist(),
            "device": self.device.type,
            "trained_from": "online",
        }
        try:
            version = CheckpointRegistry(save_to.dir).save(model, meta)
        except Exception:  # a full disk must not stop scoring; the model in memory is already in use
            log.exception("lstm_ae.save_failed", name=meta["name"], dir=save_to.dir)
            return
        log.info("lstm_ae.model_saved", name=meta["name"], version=version, features=meta["features"])

    def _maybe_train(self, group: SignatureGroup) -> None:
        cfg = self.config
        with group.lock:
            if group.training or group.filled < 2:
                return
            if group.fitted is None:
                due = group.filled >= cfg.min_train_windows
            else:
                by_count = cfg.refresh_every > 0 and group.new_windows >= cfg.refresh_every
                by_time = (
                    cfg.refresh_seconds is not None
                    and group.new_windows > 0
                    and time.monotonic() - group.last_train >= cfg.refresh_seconds
                )
                due = by_count or by_time
            if not due or time.monotonic() - group.failed_at < cfg.retry_seconds:
                return
            windows = group.reservoir[: group.filled].copy()
            group.new_windows = 0
            group.training = True
        if not cfg.background:
            self._train(group, windows, "inline")
        elif cfg.train_in == "thread":
            thread = threading.Thread(target=self._train, args=(group, windows, "thread"), name="lstm-ae-train",
                                      daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
        else:
            self._submit(group, windows)

    def _train(self, group: SignatureGroup, windows: np.ndarray, where: str) -> None:
        """Train here (inline or in a thread), swap the model in and save it."""
        try:
            current = group.fitted
            result = fit_windows(windows, self.config, init=current.model if current else None, device=self.device)
            model = result.model.to(self.device).eval()
            self._swap(group, model, result.residual_std, TrainingReport(
                where, os.getpid(), 0, len(windows), result.val_error, result.seconds))
            if self.config.save_to is not None:
                self._save_trained(group, self.config.save_to, model, result.val_error, result.residual_std,
                                   len(windows))
        except Exception:  # a failed training must not stop the stream; the old model keeps scoring
            group.failed_at = time.monotonic()
            log.exception("lstm_ae.training_failed", features=list(group.features), where=where)
        finally:
            group.last_train = time.monotonic()
            group.training = False

    def _swap(self, group: SignatureGroup, model: LSTMAutoencoder, residual_std: np.ndarray,
              report: TrainingReport) -> None:
        with group.lock:
            group.versions += 1
            group.fitted = FittedModel(model, group.versions, residual_std, "trained")
            group.report = TrainingReport(report.where, report.pid, group.versions, report.windows,
                                          report.val_error, report.seconds)
        log.info("lstm_ae.model_swapped", features=list(group.features), version=group.versions,
                 windows=report.windows, val_error=report.val_error, where=report.where, pid=report.pid,
                 train_seconds=round(report.seconds, 3))

    def _submit(self, group: SignatureGroup, windows: np.ndarray) -> None:
        """Hand the training to the training process; ``_collect_jobs`` swaps its model in when it is done."""
        try:
            with self._jobs_lock:
                if not self._worker_held:
                    self._worker = acquire_shared_worker()
                    self._worker_held = True
                current = group.fitted
                assert self._worker is not None
                job = self._worker.submit(windows, self.config, init=current.model if current else None,
                                          save=self._save_plan(group))
                self._jobs[group.features] = job
        except Exception:  # e.g. no room for the job's files: as a failed training, retried later
            group.failed_at = group.last_train = time.monotonic()
            group.training = False
            log.exception("lstm_ae.training_failed", features=list(group.features), where="process")

    def _collect_jobs(self) -> None:
        """Swap in the models the training process has finished; never waits (another thread collecting: skip)."""
        if not self._jobs_lock.acquire(blocking=False):
            return
        try:
            for features, job in list(self._jobs.items()):
                if job.poll():
                    del self._jobs[features]
                    self._finish_job(self._groups[features], job)
        finally:
            self._jobs_lock.release()

    def _finish_job(self, group: SignatureGroup, job: TrainingJob) -> None:
        try:
            if job.error is not None:
                group.failed_at = time.monotonic()
                log.error("lstm_ae.training_failed", features=list(group.features), where="process",
                          error=str(job.error), retry_in=self.config.retry_seconds)
                return
            outcome = job.outcome
            assert outcome is not None
            self._swap(group, outcome.model().to(self.device).eval(), outcome.residual_std, TrainingReport(
                "process", outcome.pid, 0, outcome.n_windows, outcome.val_error, outcome.seconds))
            self._log_saved(group, outcome)
        except Exception:  # e.g. weights that do not fit the model: the old model keeps scoring
            group.failed_at = time.monotonic()
            log.exception("lstm_ae.training_failed", features=list(group.features), where="process")
        finally:
            group.last_train = time.monotonic()
            group.training = False

    def _save_plan(self, group: SignatureGroup) -> SavePlan | None:
        """Where the training process saves the model it trains, and its metadata (what the reservoir covers)."""
        save_to = self.config.save_to
        if save_to is None:
            return None
        finite = bool(np.isfinite([group.first_time, group.last_time]).all())
        return SavePlan(save_to.dir, {
            "name": saved_name(save_to, group.features),
            "features": list(group.features),
            "window": self.window,
            "data_first": group.first_time if finite else None,
            "data_last": group.last_time if finite else None,
            "device": self.device.type,
            "trained_from": "online",
        })

    @staticmethod
    def _log_saved(group: SignatureGroup, outcome: TrainingOutcome) -> None:
        if outcome.save_error is not None:
            log.error("lstm_ae.save_failed", features=list(group.features), error=outcome.save_error)
        elif outcome.saved_version is not None:
            log.info("lstm_ae.model_saved", features=list(group.features), version=outcome.saved_version)

    # -- internals -------------------------------------------------------------------------

    def _group_for(self, features: tuple[str, ...]) -> SignatureGroup:
        group = self._groups.get(features)
        if group is None:
            with self._groups_lock:
                group = self._groups.get(features)
                if group is None:
                    group = SignatureGroup(features, self.window, self.config.max_reservoir, self.config.seed)
                    if self.config.save_to is not None:
                        self._load_saved(group, self.config.save_to)
                    self._groups[features] = group
        return group

    def _slot(self, group: SignatureGroup, series_id: str) -> int:
        known = self._series.get(series_id)
        if known is not None and known != group.features:
            self.forget(series_id)  # the series changed its features: start it afresh
        self._series[series_id] = group.features
        return group.slot_of(series_id)

    def _push(self, group: SignatureGroup, idx: np.ndarray, X: np.ndarray, mask: np.ndarray) -> None:
        """Every point enters its series' ring (it is context); unlearned points mark it dirty."""
        group.buf[idx, :-1] = group.buf[idx, 1:]
        group.buf[idx, -1] = X
        group.seen[idx] = np.minimum(group.seen[idx] + 1, self.window)
        group.dirty[idx] = np.where(mask, np.maximum(group.dirty[idx] - 1, 0), self.window)

    @staticmethod
    def _update_stats(group: SignatureGroup, idx: np.ndarray, X: np.ndarray) -> None:
        group.count[idx] += 1
        n = group.count[idx][:, None]
        delta = X - group.mean[idx]
        group.mean[idx] += delta / n
        group.m2[idx] += delta * (X - group.mean[idx])

    @staticmethod
    def _note_times(group: SignatureGroup, times: np.ndarray) -> None:
        finite = times[np.isfinite(times)]
        if len(finite):
            group.first_time = min(group.first_time, float(finite.min()))
            group.last_time = max(group.last_time, float(finite.max()))

    def _reconstruct(self, model: LSTMAutoencoder, z: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(z).to(self.device)
        with torch.inference_mode(), autocast_for(self.device):
            out = model(x)
        return out.float().cpu().numpy()

    def _reconstruct_last(self, model: LSTMAutoencoder, z: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(z).to(self.device)
        with torch.inference_mode(), autocast_for(self.device):
            out = model.reconstruct_last(x)
        return out.float().cpu().numpy()
