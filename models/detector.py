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

This module scores and keeps the series' windows; ``signature_group`` holds
a signature's arrays and reservoir, ``bank_training`` decides when and
where a model trains and swaps it in, ``bank_checkpoints`` loads and saves
the models.

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

import threading
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import structlog
import torch
from pydantic import ValidationError

from aiops.detectors.base import BankBase, BankInputError, BankScores, check_rows
from aiops.detectors.core.errors import ConfigError
from aiops.models.bank_checkpoints import adopt_checkpoint, load_saved, save_checkpoint, saved_name
from aiops.models.bank_training import BankTraining
from aiops.models.config import LSTMAEConfig
from aiops.models.device import autocast_for, select_device
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.registry import CheckpointRegistry
from aiops.models.signature_group import FittedModel, SignatureGroup, TrainingReport

__all__ = ["FittedModel", "LSTMAEBank", "SignatureGroup", "TrainingReport", "saved_name"]

log = structlog.get_logger(__name__)


class LSTMAEBank(BankBase):
    """``DetectorBank`` over an LSTM autoencoder; see the module docstring."""

    name: ClassVar[str] = "lstm_ae"
    joint: ClassVar[bool] = True  # reconstructs whole windows of rows
    abstains_when_cold: ClassVar[bool] = True  # no model yet: no say in the ensemble (not even the 0.5 of "no opinion")

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
        self._training = BankTraining(self.config, self.device)
        self._groups_lock = threading.Lock()
        if self.config.checkpoint is not None:
            self._load_checkpoint()

    @classmethod
    def applies_to(cls, n_features: int, params: Mapping[str, Any]) -> bool:
        """Whether a group of series with this many features gets this bank (``min_features``).

        >>> LSTMAEBank.applies_to(1, {"min_features": 2}), LSTMAEBank.applies_to(4, {"min_features": 2})
        (False, True)
        """
        return n_features >= int(params.get("min_features", 1))

    # -- the DetectorBank protocol ---------------------------------------------------------

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        if self._training.jobs:
            self._training.collect(self._groups)
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
        if self._training.jobs:
            self._training.collect(self._groups)
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
        self._training.maybe_train(group)

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
        return self._training.pid

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
        if group is None:
            raise ConfigError(f"no model yet for features {list(features)}")
        return save_checkpoint(group, root, name, self.device)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for background trainings to finish and swap their models in; True when none is running."""
        return self._training.wait_idle(self._groups, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Let running trainings finish (their models are swapped in), then let the training process go.

        The process is shared by the banks of this program and stops with the last of them (or at exit); a
        training still running after ``timeout`` seconds is abandoned.
        """
        self._training.close(self._groups, timeout)

    def _load_checkpoint(self) -> None:
        ref = self.config.checkpoint
        assert ref is not None
        model, meta = CheckpointRegistry(ref.dir).load(ref.name, ref.version)
        if meta.window != self.window:
            log.info("lstm_ae.window_from_checkpoint", configured=self.window, checkpoint=meta.window)
            self.window = meta.window
        adopt_checkpoint(self._group_for(tuple(meta.features)), ref.name, model, meta, self.device,
                         self.config.prior_weight)

    # -- internals -------------------------------------------------------------------------

    def _group_for(self, features: tuple[str, ...]) -> SignatureGroup:
        group = self._groups.get(features)
        if group is None:
            with self._groups_lock:
                group = self._groups.get(features)
                if group is None:
                    group = SignatureGroup(features, self.window, self.config.max_reservoir, self.config.seed)
                    if self.config.save_to is not None:
                        load_saved(group, self.config.save_to, self.device)
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
