"""Half-space trees (Tan, Ting & Liu 2011; River's ``HalfSpaceTrees``) vectorised across series.

Features are min-max scaled per series (online); random half-space splits of
the unit cube form ``n_trees`` complete trees shared by every series (same
``seed``), so a series' state is just its node masses: the reference window's
and the one filling now. A point falling into sparsely populated regions of
the reference window scores high. Multivariate series only by default: the
state is ``2 * n_trees * (2^(height+1) - 1)`` counters per series.

>>> import numpy as np
>>> bank = HalfSpaceTreesBank(window_size=50, seed=1)
>>> rng = np.random.default_rng(3)
>>> for t in range(150):
...     x = rng.normal(size=(1, 2)) * 0.1 + 0.5
...     bank.learn(["s"], x, ["a", "b"], np.zeros(1), np.array([True]))
>>> inside = bank.score(["s"], np.array([[0.5, 0.5]]), ["a", "b"], np.zeros(1)).raw[0]
>>> outside = bank.score(["s"], np.array([[0.9, 0.1]]), ["a", "b"], np.zeros(1)).raw[0]
>>> bool(outside > inside)
True
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import ArrayBank, BankParams
from aiops.detectors.base import BankScores


class HSTParams(BankParams):
    min_count: int = Field(0, description="points of a series learned before this detector's scores count")
    n_trees: int = Field(10, ge=1, le=100, description="half-space trees per series")
    height: int = Field(5, ge=1, le=12, description="depth of each tree")
    window_size: int = Field(100, ge=2, description="points per mass window")
    padding: float = Field(0.15, ge=0.0, lt=0.5, description="split points avoid this share of each node's edges")
    seed: int = Field(42, description="random seed of the trees' split points")
    beyond_range: bool = Field(
        True, description="a point outside the range seen so far adds its distance beyond it (in spans of that "
                          "range) to the score, which the trees alone bound by 1 (False: the trees' score only)")


class HalfSpaceTreesBank(ArrayBank):
    """1 - (mass-weighted path score / its maximum); higher = more anomalous."""

    name: ClassVar[str] = "hst"
    Params: ClassVar[type[BankParams]] = HSTParams
    multivariate_only: ClassVar[bool] = True
    joint: ClassVar[bool] = True
    params: HSTParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._trees: tuple[np.ndarray, np.ndarray] | None = None

    def _fields(self, n_features: int) -> dict[str, tuple[tuple[int, ...], Any]]:
        p = self.params
        nodes = 2 ** (p.height + 1) - 1
        self._trees = self._grow(n_features)
        return {"lo": ((n_features,), np.inf), "hi": ((n_features,), -np.inf), "count": ((), 0),
                "ready": ((), 0), "r_mass": ((p.n_trees, nodes), np.int32(0)),
                "l_mass": ((p.n_trees, nodes), np.int32(0))}

    def _grow(self, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        """Split feature and threshold of every internal node of every tree (complete-tree layout)."""
        p = self.params
        rng = np.random.default_rng(p.seed)
        internal = 2 ** p.height - 1
        feature = np.zeros((p.n_trees, internal), dtype=np.intp)
        split = np.zeros((p.n_trees, internal))
        for t in range(p.n_trees):
            limits = {0: (np.zeros(n_features), np.ones(n_features))}
            for node in range(internal):
                lo, hi = limits.pop(node)
                f = int(rng.integers(n_features))
                a, b = lo[f], hi[f]
                at = rng.uniform(a + p.padding * (b - a), b - p.padding * (b - a))
                feature[t, node], split[t, node] = f, at
                left_hi, right_lo = hi.copy(), lo.copy()
                left_hi[f], right_lo[f] = at, at
                limits[2 * node + 1] = (lo, left_hi)
                limits[2 * node + 2] = (right_lo, hi)
        return feature, split

    def _paths(self, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        """(levels, m, trees) node index of each row's walk in each tree."""
        a = self.store.arrays  # type: ignore[union-attr]
        assert self._trees is not None
        feature, split = self._trees
        lo, hi = a["lo"][rows], a["hi"][rows]
        span = hi - lo
        scaled = np.where(np.isfinite(X) & (span > 0), (X - lo) / np.where(span > 0, span, 1.0), 0.5)
        scaled = np.clip(scaled, 0.0, 1.0)
        m, trees = X.shape[0], self.params.n_trees
        node = np.zeros((m, trees), dtype=np.intp)
        tree_idx = np.arange(trees)[None, :]
        row_idx = np.arange(m)[:, None]
        levels = [node]
        for _ in range(self.params.height):
            f = feature[tree_idx, node]
            go_right = scaled[row_idx, f] >= split[tree_idx, node]
            node = 2 * node + 1 + go_right
            levels.append(node)
        return np.stack(levels)

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        p = self.params
        paths = self._paths(rows, X)
        r_mass = self.store.arrays["r_mass"][rows]  # type: ignore[union-attr]
        m = len(rows)
        tree_idx = np.arange(p.n_trees)[None, :]
        row_idx = np.arange(m)[:, None]
        limit = 0.1 * p.window_size
        alive = np.ones((m, p.n_trees), dtype=bool)
        total = np.zeros((m, p.n_trees))
        for depth, node in enumerate(paths):
            mass = r_mass[row_idx, tree_idx, node]
            total += np.where(alive, mass * 2.0 ** depth, 0.0)
            alive &= mass >= limit
        top = p.n_trees * p.window_size * (2 ** (p.height + 1) - 1)
        raw = 1.0 - total.sum(axis=1) / top
        if p.beyond_range:  # the trees clip every point to the range seen: alone they cannot tell 5 sds from 50
            a = self.store.arrays  # type: ignore[union-attr]
            lo, hi = a["lo"][rows], a["hi"][rows]
            span = np.where(hi > lo, hi - lo, np.inf)
            with np.errstate(invalid="ignore"):
                excess = (np.maximum(X - hi, 0.0) + np.maximum(lo - X, 0.0)) / span
            raw = raw + np.where(np.isfinite(excess), excess, 0.0).sum(axis=1)
        ready = self.store.arrays["ready"][rows] > 0  # type: ignore[union-attr]
        return BankScores(raw=np.where(ready, raw, 0.0))

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        rows = self._rows(series, features, X)[mask]
        if rows.size == 0:
            return
        a, p = self.store.arrays, self.params  # type: ignore[union-attr]
        x = X[mask]
        a["lo"][rows] = np.fmin(a["lo"][rows], x)
        a["hi"][rows] = np.fmax(a["hi"][rows], x)
        paths = self._paths(rows, x)
        tree_idx = np.arange(p.n_trees)[None, :]
        for node in paths:
            a["l_mass"][rows[:, None], tree_idx, node] += 1
        count = a["count"][rows] + 1
        full = count >= p.window_size
        if full.any():
            done = rows[full]
            a["r_mass"][done] = a["l_mass"][done]
            a["l_mass"][done] = 0
            a["ready"][done] = 1
            count = np.where(full, 0, count)
        a["count"][rows] = count
        a["n"][rows] += 1

    def _warm_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.store.arrays["ready"][rows] > 0  # type: ignore[union-attr]
