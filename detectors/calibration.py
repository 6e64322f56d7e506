"""Raw detector scores to calibrated values in [0, 1): the mid-rank in a ring of the series' own past scores.

A score maps to its mid-rank ``(rank + 0.5) / (n + 1)`` in the ring, which
is about uniform on data like the past and never reaches 0 or 1. Above the
ring's ``tail_k``-th largest score ``u``, an exponential tail fitted to the
top scores takes over (peaks over threshold): ``1 - k/(n+1) exp(-(x-u)/s)``,
so that the rare levels a threshold like 0.999 asks for are extrapolated
rather than capped by the ring's size; it slows to a logarithm far out so
that no score, however large, reaches 1. With fewer than ``2 tail_k``
scores, values beyond the maximum get ``1 - 0.5/((n+1)(1 + log(1+excess)))``.

>>> import numpy as np
>>> ring, seen = np.zeros((1, 8), dtype=np.float32), np.zeros(1, dtype=np.int64)
>>> for value in [1.0, 2.0, 3.0, 4.0, 5.0]:
...     remember(ring, seen, np.array([value]))
>>> rings, seens = np.repeat(ring, 4, axis=0), np.repeat(seen, 4)  # one row per query
>>> p = calibrate(rings, seens, np.array([0.0, 3.0, 5.5, 1e9]), min_history=3)
>>> [round(float(v), 3) for v in p], bool(p[3] < 1.0)
([0.083, 0.5, 0.936, 0.996], True)
"""

from __future__ import annotations

import numpy as np

def calibrate(ring: np.ndarray, seen: np.ndarray, raw: np.ndarray, *, min_history: int,
              tail_k: int = 16) -> np.ndarray:
    """Calibrated value of each row's raw score against that row's ring (``seen`` = scores ever remembered)."""
    if raw.shape[0] != ring.shape[0]:
        raise ValueError(f"raw has {raw.shape[0]} rows, ring has {ring.shape[0]}")
    size = ring.shape[1]
    n = np.minimum(seen, size)
    r = raw[:, None]
    if n.min() == size:  # every ring full: no masking needed (same arithmetic as below, bit for bit)
        below = (ring < r).sum(axis=1)
        equal = (ring == r).sum(axis=1)
        hist = ring.astype(np.float64)
        ranked = hist
    else:
        valid = np.arange(size) < n[:, None]
        below = ((ring < r) & valid).sum(axis=1)
        equal = ((ring == r) & valid).sum(axis=1)
        hist = np.where(valid, ring, 0.0)
        ranked = np.where(valid, ring, -np.inf)
    p = (below + 0.5 * equal + 0.5) / (n + 1.0)
    k = min(tail_k, size)
    top = np.partition(ranked, size - k, axis=1)[:, size - k:]
    u = top.min(axis=1)
    hmax = top.max(axis=1)
    safe_n = np.maximum(n, 1)
    mean = hist.sum(axis=1) / safe_n
    sd = np.sqrt(np.maximum((hist * hist).sum(axis=1) / safe_n - mean * mean, 0.0))
    floor = 1e-9 * np.abs(mean) + 1e-300
    fitted = n >= 2 * k
    if fitted.any():
        top = np.where(fitted[:, None], top, 0.0)
        u = np.where(fitted, u, 0.0)
        # exponential tail above the k-th largest score (peaks over threshold), matched to the ranks at u
        sigma = np.maximum(np.where(fitted, (top - u[:, None]).sum(axis=1) / (k - 1), 1.0), np.maximum(sd * 1e-3, floor))
        excess = np.where(fitted & (raw > u), (raw - u) / sigma, 0.0)
        beyond = np.maximum(excess - 20.0, 0.0)
        tail = (k / (n + 1.0)) * np.exp(-np.minimum(excess, 20.0)) / (1.0 + np.log1p(beyond))
        p = np.where(fitted & (raw > u), 1.0 - tail, p)
    sparse = ~fitted & (raw > hmax)
    if sparse.any():
        excess = np.log1p(np.where(sparse, (raw - hmax) / np.maximum(sd, floor), 0.0))
        p = np.where(sparse, 1.0 - 0.5 / ((n + 1.0) * (1.0 + excess)), p)
    return np.where(n >= min_history, p, 0.5)


def remember(ring: np.ndarray, seen: np.ndarray, raw: np.ndarray) -> None:
    """Add one raw score per row to the rings in place (the oldest is overwritten once full)."""
    pos = seen % ring.shape[1]
    limit = float(np.finfo(ring.dtype).max)
    ring[np.arange(ring.shape[0]), pos] = np.clip(raw, -limit, limit)
    seen += 1
