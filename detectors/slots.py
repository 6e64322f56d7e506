"""Per-series state kept as rows of growable numpy arrays, so a step of many series is one array operation.

>>> store = SlotStore({"mean": ((2,), 0.0), "n": ((), 0)})
>>> rows = store.rows(["a", "b", "a"])
>>> rows.tolist()
[0, 1, 0]
>>> store.arrays["mean"][rows[1]] = [1.0, 2.0]
>>> state = store.export("b")
>>> store.drop("b"); store.load("c", state); store.export("c")["mean"].tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Collection, Sequence

import numpy as np


class SlotStore:
    """Named arrays whose first axis is one slot per series (freed slots are reused).

    Each array is C-contiguous (also after growing), so a reshaped view of it
    writes through: the engine updates its rings through flat views.
    """

    def __init__(self, fields: dict[str, tuple[tuple[int, ...], Any]], capacity: int = 8) -> None:
        self.fields = dict(fields)
        self.index: dict[str, int] = {}
        self._free: list[int] = []
        self._used = 0
        self._last: tuple[list[str], np.ndarray] | None = None
        self.arrays: dict[str, np.ndarray] = {}
        for name, (shape, init) in self.fields.items():
            # an array init (one value per place of the field) gives every slot that array
            dtype = (init.dtype if isinstance(init, (np.generic, np.ndarray))
                     else np.int64 if isinstance(init, int) else np.float64)
            self.arrays[name] = np.full((capacity, *shape), init, dtype=dtype)

    def __contains__(self, series_id: str) -> bool:
        return series_id in self.index

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, series: Sequence[str]) -> np.ndarray:
        """Slot of each series, creating fresh ones (initial values) for series never seen."""
        last = self._last
        if last is not None and type(series) is list and last[0] == series:
            return last[1]  # the same step asks again (warm-up, score, learn): same slots
        index = self.index
        try:
            if len(series) < 2:
                found = np.array([index[s] for s in series], dtype=np.intp)
            else:
                found = np.array(itemgetter(*series)(index), dtype=np.intp)
        except KeyError:
            found = np.fromiter((self._slot(s) for s in series), dtype=np.intp, count=len(series))
        found.flags.writeable = False
        self._last = (list(series), found)
        return found

    def _slot(self, series_id: str) -> int:
        slot = self.index.get(series_id)
        if slot is not None:
            return slot
        self._last = None
        if self._free:
            slot = self._free.pop()
        else:
            slot = self._used
            self._used += 1
            self._grow(self._used)
        self._reset(slot)
        self.index[series_id] = slot
        return slot

    def claim(self, series: Sequence[str], *, written: Collection[str] = ()) -> np.ndarray:
        """Fresh slots (initial values) for many series the store does not hold, at once; their slots in order.

        ``written``: fields the caller writes into these slots next, left as they are here.

        >>> store = SlotStore({"n": ((), 7)})
        >>> store.claim(["a", "b"]).tolist(), store.rows(["b"]).tolist(), int(store.arrays["n"][1])
        ([0, 1], [1], 7)
        """
        if any(map(self.index.__contains__, series)) or len(set(series)) != len(series):
            raise ValueError("slots are claimed for distinct series the store does not hold")
        self._last = None
        reused = [self._free.pop() for _ in range(min(len(series), len(self._free)))]
        first = self._used
        self._used += len(series) - len(reused)
        self._grow(self._used)
        slots = np.array(reused + list(range(first, self._used)), dtype=np.intp)
        for name, (_, init) in self.fields.items():
            if name not in written:
                self.arrays[name][slots] = init
        self.index.update(zip(series, slots.tolist()))
        return slots

    def reserve(self, slots: int) -> None:
        """Room for ``slots`` series in one allocation (a restore knows how many come; growing copies)."""
        self._grow(slots, doubling=False)

    def _grow(self, needed: int, *, doubling: bool = True) -> None:
        capacity = next(iter(self.arrays.values())).shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2) if doubling else needed
        for name, arr in self.arrays.items():
            grown = np.empty((new_capacity, *arr.shape[1:]), dtype=arr.dtype)
            grown[:capacity] = arr
            self.arrays[name] = grown

    def _reset(self, slot: int) -> None:
        for name, (_, init) in self.fields.items():
            self.arrays[name][slot] = init

    def export(self, series_id: str) -> dict[str, np.ndarray] | None:
        slot = self.index.get(series_id)
        if slot is None:
            return None
        return {name: arr[slot].copy() for name, arr in self.arrays.items()}

    def load(self, series_id: str, state: dict[str, np.ndarray]) -> None:
        slot = self._slot(series_id)
        for name, arr in self.arrays.items():
            if name in state:
                arr[slot] = state[name]

    def drop(self, series_id: str) -> None:
        slot = self.index.pop(series_id, None)
        if slot is not None:
            self._last = None
            self._free.append(slot)
