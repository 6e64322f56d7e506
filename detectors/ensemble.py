"""Combining the detectors' calibrated scores into the ensemble score.

``max`` flags what any detector finds unusual, ``mean`` and ``weighted_mean``
average, ``vote`` returns the highest level that detectors holding at least
``quorum`` of the total weight all reach (so ``score >= threshold`` means
"enough detectors agree at that level").

>>> import numpy as np
>>> P = np.array([[0.2, 0.999, 0.5], [0.999, 0.998, 0.3]])
>>> w = np.array([1.0, 1.0, 2.0])
>>> combine(P, w, "max").tolist(), combine(P, w, "mean").round(3).tolist()
([0.999, 0.999], [0.566, 0.766])
>>> combine(P, w, "weighted_mean").round(3).tolist()
[0.55, 0.649]
>>> combine(P, w, "vote", quorum=0.5).tolist()
[0.5, 0.998]

A detector that abstains on a row (``present`` False: an autoencoder without its model) is left out of it:

>>> present = np.array([[True, True, False], [True, True, True]])
>>> combine_present(P, present, w, "mean").round(3).tolist(), combine_present(P, present, w, "vote").tolist()
([0.6, 0.766], [0.999, 0.998])
"""

from __future__ import annotations

import numpy as np

METHODS = ("max", "mean", "weighted_mean", "vote")


def combine(P: np.ndarray, weights: np.ndarray, method: str, *, quorum: float = 0.5) -> np.ndarray:
    """One score per row of ``P`` (rows = points, columns = detectors)."""
    if P.shape[1] == 1:
        return P[:, 0].copy()
    if method == "max":
        return P.max(axis=1)
    if method == "mean":
        return P.mean(axis=1)
    total = float(weights.sum())
    if total <= 0:
        raise ValueError("detector weights sum to zero")
    if method == "weighted_mean":
        return P @ weights / total
    if method == "vote":
        order = np.argsort(-P, axis=1, kind="stable")
        ranked = np.take_along_axis(P, order, axis=1)
        cum = np.cumsum(weights[order], axis=1)
        first = np.argmax(cum >= quorum * total - 1e-12, axis=1)
        return ranked[np.arange(P.shape[0]), first]
    raise ValueError(f"unknown ensemble method {method!r}; known: {', '.join(METHODS)}")


def combine_present(P: np.ndarray, present: np.ndarray, weights: np.ndarray, method: str, *,
                    quorum: float = 0.5) -> np.ndarray:
    """``combine`` over the detectors ``present`` on each row only; a row with none present says 0.5."""
    if method not in METHODS:
        raise ValueError(f"unknown ensemble method {method!r}; known: {', '.join(METHODS)}")
    any_present = present.any(axis=1)
    masked = np.where(present, P, -np.inf)
    if method == "max":
        out = masked.max(axis=1)
    elif method == "mean":
        out = np.where(present, P, 0.0).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    else:
        W = np.where(present, weights[None, :], 0.0)
        total = W.sum(axis=1)
        if method == "weighted_mean":
            out = (np.where(present, P, 0.0) * W).sum(axis=1) / np.where(total > 0, total, 1.0)
        else:
            order = np.argsort(-masked, axis=1, kind="stable")
            ranked = np.take_along_axis(masked, order, axis=1)
            cum = np.cumsum(np.take_along_axis(W, order, axis=1), axis=1)
            first = np.argmax(cum >= quorum * total[:, None] - 1e-12, axis=1)
            out = ranked[np.arange(P.shape[0]), first]
    return np.where(any_present, out, 0.5)
