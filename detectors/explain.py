"""Per-feature contributions of a scored step: which features made the point unusual.

Each detector's per-feature shares are normalised per row and weighted by
how unusual that detector found the point (its calibrated score above 0.5)
times its weight; the mix is normalised to sum to 1. Rows where no detector
has an opinion get equal shares.

>>> import numpy as np
>>> shares = [np.array([[9.0, 1.0]]), np.array([[0.0, 0.0]])]
>>> contributions(shares, np.array([[0.99, 0.7]]), np.array([1.0, 1.0]), 2).round(2).tolist()
[[0.9, 0.1]]
>>> contributions([None], np.array([[0.99]]), np.array([1.0]), 4).tolist()
[[0.25, 0.25, 0.25, 0.25]]

The features that explain a point, largest share first, until half of it is explained:

>>> implicated(np.array([[0.6, 0.3, 0.1], [0.3, 0.3, 0.4]]), 0.5).tolist()
[[True, False, False], [True, False, True]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def contributions(per_feature: Sequence[np.ndarray | None], P: np.ndarray, weights: np.ndarray,
                  n_features: int) -> np.ndarray:
    """(m, f) contributions summing to 1 per row, from each detector's (m, f) shares (None: no opinion)."""
    mix: np.ndarray | None = None
    for j, share in enumerate(per_feature):
        if share is None:
            continue
        share = np.where(np.isfinite(share), share, 0.0)
        total = share.sum(axis=1, keepdims=True)
        norm = np.divide(share, total, out=np.zeros_like(share), where=total > 0)
        strength = np.maximum(P[:, j] - 0.5, 0.0) * weights[j] + 1e-9
        part = norm * strength[:, None]
        mix = part if mix is None else mix + part
    if mix is None:  # no detector tells features apart: equal shares
        return np.full((P.shape[0], n_features), 1.0 / n_features)
    total = mix.sum(axis=1, keepdims=True)
    equal = np.full_like(mix, 1.0 / mix.shape[1])
    return np.divide(mix, total, out=equal, where=total > 0)


def implicated(contrib: np.ndarray, share: float) -> np.ndarray:
    """(m, f) mask of the smallest set of features per row, largest contribution first, holding ``share`` of it.

    Ties keep feature order. The other features did not make the point unusual: a flagged point may still
    teach their baselines (``detection.partial_learning``).
    """
    order = np.argsort(-contrib, axis=1, kind="stable")
    ranked = np.take_along_axis(contrib, order, axis=1)
    before = np.cumsum(ranked, axis=1) - ranked  # share explained by the larger features
    out = np.empty(contrib.shape, dtype=bool)
    np.put_along_axis(out, order, before < share, axis=1)
    return out
