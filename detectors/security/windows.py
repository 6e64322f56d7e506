"""A sliding time window of keyed items, for counting failures and distinct users.

>>> w = SlidingWindow(60.0)
>>> for t, u in ((0, "a"), (10, "b"), (65, "c")): w.add(t, u)
>>> len(w), sorted(w.distinct())
(2, ['b', 'c'])
"""

from __future__ import annotations

from collections import deque
from typing import Hashable


class SlidingWindow:
    """Items of the last ``width`` seconds (by event time), oldest first."""

    __slots__ = ("width", "items", "armed")

    def __init__(self, width: float) -> None:
        self.width = width
        self.items: deque[tuple[float, Hashable]] = deque()
        self.armed = True  # fires once per burst; re-armed when the burst has passed

    def add(self, time: float, item: Hashable = None) -> None:
        self.items.append((time, item))
        self.prune(time)

    def prune(self, now: float) -> None:
        while self.items and self.items[0][0] <= now - self.width:
            self.items.popleft()

    def __len__(self) -> int:
        return len(self.items)

    def distinct(self) -> set[Hashable]:
        return {item for _, item in self.items}


class WindowsByKey:
    """One ``SlidingWindow`` per key, with the idle ones dropped so memory stays bounded."""

    def __init__(self, width: float, *, max_keys: int = 100_000) -> None:
        self.width = width
        self.max_keys = max_keys
        self.windows: dict[Hashable, SlidingWindow] = {}

    def add(self, key: Hashable, time: float, item: Hashable = None) -> SlidingWindow:
        window = self.windows.get(key)
        if window is None:
            if len(self.windows) >= self.max_keys:
                self._drop_idle(time)
            window = self.windows[key] = SlidingWindow(self.width)
        window.add(time, item)
        return window

    def get(self, key: Hashable, now: float) -> SlidingWindow | None:
        window = self.windows.get(key)
        if window is not None:
            window.prune(now)
        return window

    def _drop_idle(self, now: float) -> None:
        for key in [k for k, w in self.windows.items() if not w.items or w.items[-1][0] <= now - w.width]:
            del self.windows[key]
        if len(self.windows) >= self.max_keys:  # still full: forget the oldest half
            for key in list(self.windows)[: self.max_keys // 2]:
                del self.windows[key]
