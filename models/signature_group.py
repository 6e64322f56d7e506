"""The series of one feature signature: their windows and running statistics, the shared model, its reservoir.

Each series has a slot: a ring of its last ``window`` raw points and its
running mean and variance (Welford), in per-signature arrays that grow by
doubling. Learned windows are offered to a bounded reservoir of normal
windows (algorithm R), from which the signature's model is trained.

>>> group = SignatureGroup(("v",), window=3, max_reservoir=4, seed=0)
>>> slot = group.slot_of("a")
>>> group.slots_of(["a", "b"]).tolist(), group.capacity
([0, -1], 16)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from aiops.models.lstm_ae import LSTMAutoencoder

STD_FLOOR = 1e-6
Z_CLIP = 1e3


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
