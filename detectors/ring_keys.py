"""A calibration ring's scores in two bytes each: order-preserving 16-bit keys.

A ring is read for the order of its scores (ranks), its tail level and its
spread, none of which needs float32's 24 bits of mantissa. A score is kept as
the upper half of its float32 (bfloat16: float32's range, 8 significant bits,
so within 0.4 % of the score), rounded to nearest, and flipped so that the
keys' unsigned order is the scores' order. Ranks are then compared on the
keys themselves: a score ``v`` has ``key < keys_at_least(v)`` above exactly
the kept scores below ``v``. Half the bytes of a float32 ring (1.5 kB of a
series with three detectors and rings of 256).

>>> keys = to_keys(np.array([-2.0, 0.0, 1.0, 3.14159, np.inf]))
>>> bool((np.diff(keys.astype(int)) > 0).all()), from_keys(keys).tolist()
(True, [-2.0, 0.0, 1.0, 3.140625, inf])
>>> int((keys < keys_at_least(np.array([1.0]))).sum()), int((keys < keys_at_least(np.array([1.5]))).sum())
(2, 3)
"""

from __future__ import annotations

import numpy as np

KEY_DTYPE = np.dtype(np.uint16)
#: The key of +inf: a ring's free slot (see ``calibration``).
KEY_INF = 0xFF80
#: The keys of the largest finite scores a ring keeps, either sign (what larger or non-numbers become).
KEY_MAX, KEY_MIN = 0xFF7F, 0x0080
_BF16_MAX = float(np.array([0x7F7F0000], dtype=np.uint32).view(np.float32)[0])


def to_keys(scores: np.ndarray) -> np.ndarray:
    """The keys of scores, each rounded to the nearest bfloat16; NaN keeps the key of the largest score.

    >>> to_keys(np.array([1.0, -1.0, 1e39, np.nan, -0.0])).tolist()
    [49024, 16511, 65407, 65407, 32768]
    """
    x = np.asarray(scores, dtype=np.float64)
    finite = np.clip(np.nan_to_num(x, nan=_BF16_MAX), -_BF16_MAX, _BF16_MAX)
    bits = np.where(np.isinf(x), x, finite).astype(np.float32).view(np.uint32)
    top = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
    top[top == 0x8000] = 0  # -0, and a tiny negative score that rounds to it: the key of 0
    return np.where(top & 0x8000, ~top, top | 0x8000).astype(KEY_DTYPE)


def from_keys(keys: np.ndarray) -> np.ndarray:
    """The scores the keys stand for, as float32 (+inf for a free slot)."""
    k = np.asarray(keys, dtype=KEY_DTYPE)
    top = np.where(k & 0x8000, k & 0x7FFF, ~k).astype(np.uint32)
    return (top << np.uint32(16)).view(np.float32)


def keys_at_least(values: np.ndarray) -> np.ndarray:
    """The smallest key of a score at least each value: kept scores below ``v`` have keys below it.

    NaN gets key 0 (no score is below it), as a comparison with NaN is false.

    >>> keys_at_least(np.array([1.0, 1.001, np.inf, np.nan])).tolist()
    [49024, 49025, 65408, 0]
    """
    v = np.asarray(values, dtype=np.float64)
    near = to_keys(v)
    out = near + (from_keys(near) < v)  # the nearest is the value's floor or ceiling (past the largest: +inf's)
    return np.where(v == v, out, 0).astype(KEY_DTYPE)


def clamp_kept(keys: np.ndarray) -> np.ndarray:
    """Keys as a ring keeps its scores: any beyond the largest finite scores (a forged record) pulled back."""
    return np.clip(keys, KEY_MIN, KEY_MAX).astype(KEY_DTYPE)
