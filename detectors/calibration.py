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

``calibrate`` reads the FIFO ring whole and is the reference; the engine
keeps each ring's sorted view as positions in it (``rank_rings``,
``remember_ranked``) and calls ``calibrate_ranked``, which finds the same
ranks by bisection and reads the tail level at a fixed place, so a step
costs a few gathers per row instead of a pass over every ring.

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

from aiops.detectors.ring_keys import KEY_DTYPE, KEY_INF, clamp_kept, from_keys, keys_at_least, to_keys


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


# -- sorted rings ---------------------------------------------------------------------------------
# The engine keeps, next to each FIFO ring, its sorted view as positions ("order"): the p-th smallest
# remembered score of a row is ``ring[order[p]]``; past the ``n`` remembered ones the view holds the ring's
# free slots ``n, n + 1, ...`` in turn, and a free slot of the ring holds +inf, so the view reads +inf there.
# A query is then a binary search and the tail level is read at a fixed place, instead of a pass over the
# whole ring; a position takes one byte (two past 256 scores a ring) where a sorted copy took four.
# These rings hold their scores as 16-bit keys (``ring_keys``: bfloat16, order-preserving), a free slot the
# key of +inf; ranks are counted on the keys, the values read back where the tail needs them.


def free_as_inf(ring: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Key rings with the key of +inf in their free slots (a record holds anything there: zeros before version 2),
    and no kept key beyond the largest finite scores' (a forged record's non-numbers).

    >>> free_as_inf(np.array([[32768, 0xFFFF, 0]], dtype=np.uint16), np.array([2])).tolist()
    [[32768, 65407, 65408]]
    """
    size = ring.shape[-1]
    n = np.minimum(seen, size)
    out = clamp_kept(ring)  # a copy; only the rings still filling are rewritten again
    filling = n < size
    if filling.any():
        out[filling] = np.where(np.arange(size) >= n[filling][:, None], KEY_INF, out[filling])
    return out


def order_dtype(window: int) -> np.dtype:
    """The smallest unsigned integer type that holds a position in a ring of ``window`` scores."""
    return np.dtype(np.uint8) if window <= 256 else np.dtype(np.uint16)


def rank_rings(ring: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The sorted view of FIFO key rings (``ring_keys``), as positions in them (then the free slots, in turn).

    >>> ring = to_keys(np.array([[3.0, 1.0, 2.0, 0.0]]))
    >>> rank_rings(ring, np.array([3])).tolist(), sorted_view(rank_rings(ring, np.array([3])), ring, np.array([3])).tolist()
    ([[1, 2, 0, 3]], [[1.0, 2.0, 3.0, inf]])
    """
    size = ring.shape[1]
    n = np.minimum(seen, size)
    keyed = clamp_kept(ring)  # a score that is no number (a forged record) sorts last, not past the free slots
    filling = np.flatnonzero(n < size)
    free = np.arange(size) >= n[filling, None]
    keyed[filling] = np.where(free, KEY_INF, keyed[filling])
    order = np.argsort(keyed, axis=1).astype(order_dtype(size))  # not stable: the free slots in turn, below
    order[filling] = np.where(free, np.arange(size, dtype=order.dtype), order[filling])
    return order


def sorted_view(order: np.ndarray, ring: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The scores of each key ring ascending, +inf past the remembered ones (what ``order`` stands for)."""
    size = ring.shape[1]
    values = from_keys(np.take_along_axis(ring, order.astype(np.intp), axis=1))
    return np.where(np.arange(size) < np.minimum(seen, size)[:, None], values, np.float32(np.inf))


def count_below(order: np.ndarray, ring: np.ndarray, n: np.ndarray, rows: np.ndarray,
                bounds: np.ndarray) -> np.ndarray:
    """How many of the ``n[i]`` remembered keys of key ring row ``rows[i]`` are below the key ``bounds[i]``
    (``keys_at_least(v)``: how many scores are below ``v``).

    A batched bisection over the sorted view (one gather of positions and one
    of scores per halving, whatever the number of rows); a few rows are compared whole instead.
    The rings' free slots hold the key of +inf (``free_as_inf``).

    >>> ring = to_keys(np.array([[9.0, 9.0, 9.0, 9.0], [5.0, 0.0, 0.0, np.inf]]))
    >>> seen = np.array([4, 3])
    >>> order = rank_rings(ring, seen)
    >>> bounds = keys_at_least(np.array([0.0, 6.0, 8.0]))
    >>> count_below(order, ring, seen[[1, 1, 1]], np.array([1, 1, 1]), bounds).tolist()
    [0, 3, 3]
    >>> rows, values = np.tile([0, 1], 60), np.repeat([0.0, 6.0], 60)  # 120 queries: the bisection
    >>> count_below(order, ring, seen[rows], rows, keys_at_least(values)).reshape(2, 60)[:, :2].tolist()
    [[0, 0], [0, 3]]
    """
    size = ring.shape[1]
    if bounds.shape[0] <= _FEW_ROWS:
        return np.count_nonzero((ring[rows] < bounds[:, None]) & (np.arange(size) < n[:, None]), axis=1)
    places, scores = order.reshape(-1), ring.reshape(-1)
    starts = rows.astype(np.intp) * size
    base = starts.copy()
    m = size
    while m > 1:  # the free slots hold +inf: the view needs no mask
        half = m // 2
        base += half * (scores.take(starts + places.take(base + half)) < bounds)
        m -= half
    base += scores.take(starts + places.take(base)) < bounds
    return np.minimum(base - starts, n)


_FEW_ROWS = 96  # up to this many queries a whole-row comparison beats the bisection's ~40 calls
_FEW_MOVES = 64  # up to this many rows, moves by slices beat building index arrays


def calibrate_ranked(order: np.ndarray, ring: np.ndarray, rows: np.ndarray, seen: np.ndarray, raw: np.ndarray, *,
                     min_history: int, tail_k: int = 16, tail: np.ndarray | None = None, tail_min: int = 16,
                     shape_max: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """``calibrate_with_level`` of ``raw[i]`` against ring row ``rows[i]``, read through its sorted view ``order``.

    ``order`` and ``ring`` (16-bit keys, ``ring_keys``) hold every row (rows,
    size); only the queried rows are read. ``seen`` and ``tail`` are per
    query. Same values as the full pass over the scores the keys stand for,
    up to float rounding.

    >>> ring, seen = np.zeros((1, 8), dtype=np.float32), np.zeros(1, dtype=np.int64)
    >>> for value in [1.0, 2.0, 3.0, 4.0, 5.0]:
    ...     remember(ring, seen, np.array([value]))
    >>> keys = free_as_inf(to_keys(ring), seen)
    >>> order, raw = rank_rings(keys, seen), np.array([0.0, 3.0, 5.5, 1e9])
    >>> p, _ = calibrate_ranked(order, keys, np.zeros(4, dtype=np.intp), np.repeat(seen, 4), raw, min_history=3)
    >>> old = calibrate(np.repeat(ring, 4, axis=0), np.repeat(seen, 4), raw, min_history=3)
    >>> bool(np.allclose(p, old, rtol=1e-12, atol=0.0))
    True
    """
    if raw.shape[0] != rows.shape[0] or seen.shape[0] != rows.shape[0]:
        raise ValueError(f"raw has {raw.shape[0]} rows and seen {seen.shape[0]}, for {rows.shape[0]} queried rows")
    size = ring.shape[1]
    m = raw.shape[0]
    places, scores = order.reshape(-1), ring.reshape(-1)
    n = np.minimum(seen, size)
    starts = rows.astype(np.intp) * size
    # entries below raw, and up to raw (below its next float64: the kept scores compare exactly), as keys
    bounds = keys_at_least(np.concatenate((raw, np.nextafter(raw, np.inf))))
    if m <= _FEW_ROWS // 2:  # a few rows: compare them whole
        hist, valid = ring[rows], np.arange(size) < n[:, None]
        below = np.count_nonzero((hist < bounds[:m, None]) & valid, axis=1)
        equal = np.count_nonzero((hist < bounds[m:, None]) & valid, axis=1) - below
    else:
        counts = count_below(order, ring, np.concatenate((n, n)), np.concatenate((rows, rows)), bounds)
        below = counts[:m]
        equal = counts[m:] - below

    def view(at: np.ndarray, first: np.ndarray) -> np.ndarray:  # the sorted scores at these places of their rows
        return from_keys(scores.take(first + places.take(first + at)))

    p = (below + 0.5 * equal + 0.5) / (n + 1.0)
    k = min(tail_k, size)
    fitted = n >= 2 * k
    u = np.where(fitted, view(np.maximum(n - k, 0), starts), 0.0).astype(np.float64)
    hmax = np.where(n > 0, view(np.maximum(n - 1, 0), starts), -np.inf).astype(np.float64)
    hot = np.flatnonzero(fitted & (raw > u))
    if hot.size:
        nh, uh, rh = n[hot], u[hot], raw[hot]
        sd, floor = _ring_spread(ring, rows[hot], nh)
        top = view((nh - k)[:, None] + np.arange(k), starts[hot][:, None]).astype(np.float64)
        # exponential tail above the k-th largest score (peaks over threshold), matched to the ranks at u
        sigma = np.maximum((top - uh[:, None]).sum(axis=1) / (k - 1), np.maximum(sd * 1e-3, floor))
        with np.errstate(over="ignore"):  # a raw score beyond the floats' range is as far out as can be: inf
            excess = (rh - uh) / sigma
        beyond = np.maximum(excess - 20.0, 0.0)
        survival = (k / (nh + 1.0)) * np.exp(-np.minimum(excess, 20.0)) / (1.0 + np.log1p(beyond))
        if tail is not None:
            th = tail[hot]
            streamed = th[:, 0] >= tail_min
            if streamed.any():
                gpd = _gpd_tail(th, rh - uh, np.maximum(sd * 1e-3, floor), shape_max)
                survival = np.where(streamed, (k / (nh + 1.0)) * gpd, survival)
        p[hot] = 1.0 - survival
    sparse = np.flatnonzero(~fitted & (raw > hmax))
    if sparse.size:
        ns = n[sparse]
        sd, floor = _ring_spread(ring, rows[sparse], ns)
        excess = np.log1p((raw[sparse] - hmax[sparse]) / np.maximum(sd, floor))
        p[sparse] = 1.0 - 0.5 / ((ns + 1.0) * (1.0 + excess))
    level = np.where(fitted, u, np.inf)
    return np.where(n >= min_history, p, 0.5), level


def _ring_spread(ring: np.ndarray, rows: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviation of each row's ``n`` remembered scores, and the floor of scales derived from it."""
    hist = from_keys(ring[rows]).astype(np.float64)
    if (n < ring.shape[1]).any():
        hist[np.arange(ring.shape[1]) >= n[:, None]] = 0.0
    safe_n = np.maximum(n, 1)
    mean = hist.sum(axis=1) / safe_n
    sd = np.sqrt(np.maximum((hist * hist).sum(axis=1) / safe_n - mean * mean, 0.0))
    return sd, 1e-9 * np.abs(mean) + 1e-300


def remember_ranked(order: np.ndarray, ring: np.ndarray, seen: np.ndarray, rows: np.ndarray,
                    raw: np.ndarray) -> None:
    """``remember`` for key rings with a sorted view: add ``raw[i]`` to row ``rows[i]`` (distinct rows) in place.

    The FIFO ring gets the score at its slot; in the sorted view the place of
    the evicted score (or the first free place while the ring fills) is
    given up and the slot enters where the new score sorts, the places
    between the two moving by one. ``seen`` counts per row (rows,); free
    slots hold the key of +inf (``free_as_inf``). A score that is not a number is not remembered.

    >>> ring, seen = np.full((1, 3), KEY_INF, dtype=KEY_DTYPE), np.zeros(1, dtype=np.int64)
    >>> order = rank_rings(ring, seen)
    >>> for value in [5.0, 1.0, 3.0, 2.0]:
    ...     remember_ranked(order, ring, seen, np.array([0]), np.array([value]))
    >>> from_keys(ring).tolist(), order.tolist(), sorted_view(order, ring, seen).tolist(), seen.tolist()
    ([[2.0, 1.0, 3.0]], [[1, 0, 2]], [[1.0, 2.0, 3.0]], [4])
    """
    ok = raw == raw
    if not ok.all():
        rows, raw = rows[ok], raw[ok]
    if not order.flags.c_contiguous or not ring.flags.c_contiguous:
        raise ValueError("rings must be C-contiguous arrays (they are updated in place through flat views)")
    size = ring.shape[1]
    places, fifo = order.reshape(-1), ring.reshape(-1)
    new = to_keys(raw)
    s = seen[rows]
    n = np.minimum(s, size)
    slot = s % size
    starts = rows.astype(np.intp) * size
    # the place given up: while a ring fills, its first free place (which holds the slot written); else the place
    # of the slot whose score is evicted, the first of that score's (it is found there unless others equal it)
    k = rows.shape[0]
    old = np.where(s >= size, fifo.take(starts + slot), KEY_INF).astype(KEY_DTYPE)
    at = count_below(order, ring, np.concatenate((n, n)), np.concatenate((rows, rows)), np.concatenate((old, new)))
    at_old, at_new = np.where(s >= size, at[:k], n), at[k:]  # at_new: against the scores before this one
    tied = np.flatnonzero((s >= size) & (places.take(starts + np.minimum(at_old, size - 1)) != slot))
    if tied.size:
        at_old[tied] = (order[rows[tied]] == slot[tied, None]).argmax(axis=1)
    fifo[starts + slot] = new
    seen[rows] = s + 1
    # new at or before old: places [at_new, at_old) move one up; else (at_old, at_new) move one down
    if k <= _FEW_MOVES:  # a few rows: slices, fewer calls than building index arrays
        for start, a, b, value in zip(starts.tolist(), at_old.tolist(), at_new.tolist(), slot.tolist()):
            if b <= a:
                places[start + b + 1:start + a + 1] = places[start + b:start + a]
                places[start + b] = value
            else:
                places[start + a:start + b - 1] = places[start + a + 1:start + b]
                places[start + b - 1] = value
        return
    slot = slot.astype(order.dtype)
    up = at_new <= at_old
    _rotate(places, starts[up] + at_new[up], at_old[up] - at_new[up] + 1, slot[up], up=True)
    down = ~up
    _rotate(places, starts[down] + at_old[down], at_new[down] - at_old[down], slot[down], up=False)


def _rotate(flat: np.ndarray, first: np.ndarray, length: np.ndarray, new: np.ndarray, *, up: bool) -> None:
    """In each segment ``flat[first[i]:first[i] + length[i]]`` (length >= 1, segments apart), drop the last
    entry and put ``new[i]`` first (``up``), or drop the first and put ``new[i]`` last; the rest move by one."""
    if first.shape[0] == 0:
        return
    total = int(length.sum())
    at = np.repeat(first - (np.cumsum(length) - length), length)
    at += np.arange(total)
    moved = flat.take(at)
    # an entry pushed over a segment's edge lands on the next segment's new place, written right after
    if up:
        flat[at[1:]] = moved[:-1]
        flat[first] = new
    else:
        flat[at[:-1]] = moved[1:]
        flat[first + length - 1] = new
