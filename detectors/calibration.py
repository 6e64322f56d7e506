"""Raw detector scores to calibrated values in [0, 1): the mid-rank in a ring of the series' own past scores.

A score maps to its mid-rank ``(rank + 0.5) / (n + 1)`` in the ring, which
is about uniform on data like the past and never reaches 0 or 1. Above the
ring's ``tail_k``-th largest score ``u``, an exponential tail fitted to the
top scores takes over (peaks over threshold): ``1 - k/(n+1) exp(-(x-u)/s)``,
so that the rare levels a threshold like 0.999 asks for are extrapolated
rather than capped by the ring's size; it slows to a logarithm far out so
that no score, however large, reaches 1. With fewer than ``2 tail_k``
scores, values beyond the maximum get ``1 - 0.5/((n+1)(1 + log(1+excess)))``.

The ring's top 16 scores cannot resolve the 1e-4 levels an alert threshold
needs, so the engine also streams, per detector and series, the moments of
every excess over ``u`` (``learn_tail``): thousands of points' worth of tail.
Once enough are in, the tail above ``u`` is a generalised Pareto fitted to
them by moments, its shape kept in ``[0, shape_max]`` (exponential for light
tails such as |z| of Gaussian noise, heavier for Student-t-like scores).

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
              tail_k: int = 16, tail: np.ndarray | None = None, tail_min: int = 16, shape_max: float = 0.45) -> np.ndarray:
    """Calibrated value of each row's raw score against that row's ring (``seen`` = scores ever remembered).

    ``tail`` (rows, 3): streaming moments of excesses over the ring's tail
    level (count, mean, mean square, see ``learn_tail``); once a row has
    ``tail_min`` of them, its tail above ``u`` is a generalised Pareto fitted
    to those moments instead of the ring's top ``tail_k`` scores.
    """
    return calibrate_with_level(ring, seen, raw, min_history=min_history, tail_k=tail_k, tail=tail,
                                tail_min=tail_min, shape_max=shape_max)[0]


def calibrate_with_level(ring: np.ndarray, seen: np.ndarray, raw: np.ndarray, *, min_history: int,
                         tail_k: int = 16, tail: np.ndarray | None = None,
                         tail_min: int = 16, shape_max: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """``calibrate``, and each row's tail level ``u`` (the ring's ``tail_k``-th largest score; inf if unknown)."""
    if raw.shape[0] != ring.shape[0]:
        raise ValueError(f"raw has {raw.shape[0]} rows, ring has {ring.shape[0]}")
    size = ring.shape[1]
    n = np.minimum(seen, size)
    r = raw[:, None]
    if n.min() == size:  # every ring full: no masking needed (same arithmetic as below, bit for bit)
        hist = ring.astype(np.float64)
        below = np.count_nonzero(hist < r, axis=1)
        equal = np.count_nonzero(hist == r, axis=1)
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
        survival = (k / (n + 1.0)) * np.exp(-np.minimum(excess, 20.0)) / (1.0 + np.log1p(beyond))
        if tail is not None:
            streamed = fitted & (tail[:, 0] >= tail_min)
            if streamed.any():
                gpd = _gpd_tail(tail, raw - u, np.maximum(sd * 1e-3, floor), shape_max)
                survival = np.where(streamed, (k / (n + 1.0)) * gpd, survival)
        p = np.where(fitted & (raw > u), 1.0 - survival, p)
    sparse = ~fitted & (raw > hmax)
    if sparse.any():
        excess = np.log1p(np.where(sparse, (raw - hmax) / np.maximum(sd, floor), 0.0))
        p = np.where(sparse, 1.0 - 0.5 / ((n + 1.0) * (1.0 + excess)), p)
    level = np.where(fitted, u, np.inf)
    return np.where(n >= min_history, p, 0.5), level


def _gpd_tail(tail: np.ndarray, excess: np.ndarray, scale_floor: np.ndarray, shape_max: float) -> np.ndarray:
    """Survival of a generalised Pareto fitted by moments to the streamed excesses, at ``excess`` (>= 0)."""
    m1, m2 = tail[:, 1], tail[:, 2]
    var = np.maximum(m2 - m1 * m1, 1e-300)
    xi = np.clip(0.5 * (1.0 - m1 * m1 / var), 0.0, shape_max)
    sigma = np.maximum(m1 * (1.0 - xi), scale_floor)
    with np.errstate(over="ignore"):
        y = np.minimum(np.maximum(excess, 0.0) / sigma, 1e300)
    small = xi < 1e-6
    log_surv = np.where(small, -y, -np.log1p(np.where(small, 0.0, xi) * y) / np.where(small, 1.0, xi))
    # far beyond anything seen the decay slows to a logarithm, so no score reaches 1 (order is kept)
    beyond = np.maximum(-log_surv - 30.0, 0.0)
    return np.exp(np.maximum(log_surv, -30.0)) / (1.0 + np.log1p(beyond))


def learn_tail(tail: np.ndarray, raw: np.ndarray, level: np.ndarray, *, rate: float) -> None:
    """Add each row's raw score to its excess moments in place when it is above the row's tail ``level``.

    Weights are cumulative at first, then exponential with ``rate``, so the
    fit rests on the last ~1/rate excesses (thousands of points) rather than
    on the ring's few top scores.
    """
    above = np.isfinite(level) & (raw > level)
    if not above.any():
        return
    y = np.where(above, raw - level, 0.0)
    count = tail[:, 0] + above
    w = np.where(above, np.maximum(rate, 1.0 / np.maximum(count, 1.0)), 0.0)
    tail[:, 1] += w * (y - tail[:, 1])
    tail[:, 2] += w * (y * y - tail[:, 2])
    tail[:, 0] = count


def remember(ring: np.ndarray, seen: np.ndarray, raw: np.ndarray) -> None:
    """Add one raw score per row to the rings in place (the oldest is overwritten once full)."""
    pos = seen % ring.shape[1]
    limit = float(np.finfo(ring.dtype).max)
    ring[np.arange(ring.shape[0]), pos] = np.clip(raw, -limit, limit)
    seen += 1
