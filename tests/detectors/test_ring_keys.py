"""The calibration rings' 16-bit keys keep the scores' order, come within 0.4 % of them, and count exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.detectors.ring_keys import KEY_INF, KEY_MAX, KEY_MIN, clamp_kept, from_keys, keys_at_least, to_keys

_any = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-45, 3.4e38, 1e300]))


@settings(max_examples=300, deadline=None)
@given(a=st.floats(allow_nan=False), b=st.floats(allow_nan=False))
def test_keys_keep_the_order_of_scores(a: float, b: float) -> None:
    """A smaller score never gets a larger key; scores of one sign and magnitude class keep strict order."""
    ka, kb = to_keys(np.array([a, b])).astype(int)
    if a < b:
        assert ka <= kb
    if a == b:
        assert ka == kb  # -0.0 and 0.0 too


@settings(max_examples=300, deadline=None)
@given(x=st.floats(min_value=-3.38e38, max_value=3.38e38).filter(lambda v: v == 0 or abs(v) > 1e-37))
def test_a_kept_score_is_within_four_tenths_of_a_percent(x: float) -> None:
    """Rounded to nearest with 8 significant bits: within 2^-8 of the score, relative."""
    back = float(from_keys(to_keys(np.array([x])))[0])
    assert abs(back - x) <= abs(x) * 2.0 ** -8


def test_large_and_odd_scores_stay_below_a_free_slot() -> None:
    """Beyond bfloat16's largest finite score, and NaN, keys clamp to the largest finite ones, never +inf's."""
    keys = to_keys(np.array([1e39, -1e39, np.nan, np.inf, -np.inf]))
    assert keys[:3].tolist() == [KEY_MAX, KEY_MIN, KEY_MAX] and keys[3] == KEY_INF
    assert clamp_kept(keys).tolist() == [KEY_MAX, KEY_MIN, KEY_MAX, KEY_MAX, KEY_MIN]
    assert from_keys(np.array([KEY_INF], dtype=np.uint16)).tolist() == [np.inf]


@settings(max_examples=300, deadline=None)
@given(kept=st.lists(_any, min_size=1, max_size=20), probes=st.lists(_any, min_size=1, max_size=8))
def test_keys_at_least_counts_the_kept_scores_below_a_value(kept: list[float], probes: list[float]) -> None:
    """``key < keys_at_least(v)`` holds for exactly the kept scores (as the keys stand for them) below ``v``."""
    keys = clamp_kept(to_keys(np.array(kept)))
    values = from_keys(keys).astype(np.float64)
    bounds = keys_at_least(np.array(probes))
    for probe, bound in zip(probes, bounds):
        assert int((keys < bound).sum()) == int((values < probe).sum())
