"""Calibration of raw scores and the ensemble's combination methods."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.detectors.calibration import (
    calibrate,
    calibrate_ranked,
    calibrate_with_level,
    count_below,
    free_as_inf,
    rank_rings,
    remember,
    remember_ranked,
    sorted_view,
)
from aiops.detectors.ensemble import combine
from aiops.detectors.ring_keys import KEY_DTYPE, KEY_INF, from_keys, keys_at_least, to_keys


def calibrated_stream(raw: np.ndarray, window: int = 256) -> np.ndarray:
    ring, seen = np.zeros((1, window), dtype=np.float32), np.zeros(1, dtype=np.int64)
    out = []
    for value in raw:
        out.append(calibrate(ring, seen, np.array([value]), min_history=20)[0])
        remember(ring, seen, np.array([value]))
    return np.array(out)


class TestCalibration:
    def test_uniform_on_stationary_noise(self):
        """On stationary noise calibrated values spread evenly over (0, 1)."""
        p = calibrated_stream(np.abs(np.random.default_rng(0).normal(size=5000)))[500:]
        counts, _ = np.histogram(p, bins=10, range=(0, 1))
        assert counts.min() > 0.07 * p.size and counts.max() < 0.13 * p.size

    def test_never_exactly_one(self):
        """Even absurd raw scores stay below 1.0 and keep their order."""
        ring, seen = np.zeros((1, 256), dtype=np.float32), np.zeros(1, dtype=np.int64)
        for v in np.random.default_rng(1).normal(size=300):
            remember(ring, seen, np.array([v]))
        raw = np.array([5.0, 50.0, 5e3, 5e8, 1e300])
        p = calibrate(np.repeat(ring, 5, 0), np.repeat(seen, 5), raw, min_history=20)
        assert (p < 1.0).all() and (np.diff(p) > 0).all()

    def test_monotone(self):
        """A larger raw score never gets a smaller calibrated value."""
        ring, seen = np.zeros((1, 64), dtype=np.float32), np.zeros(1, dtype=np.int64)
        for v in np.random.default_rng(2).exponential(size=100):
            remember(ring, seen, np.array([v]))
        raw = np.linspace(-1, 20, 500)
        p = calibrate(np.repeat(ring, 500, 0), np.repeat(seen, 500), raw, min_history=20)
        assert (np.diff(p) >= 0).all()

    def test_no_opinion_without_history(self):
        """Below min_history the calibrated value is 0.5."""
        ring, seen = np.zeros((1, 64), dtype=np.float32), np.zeros(1, dtype=np.int64)
        remember(ring, seen, np.array([1.0]))
        assert calibrate(ring, seen, np.array([100.0]), min_history=20)[0] == 0.5


class TestEnsemble:
    P = np.array([[0.1, 0.999, 0.4], [0.99, 0.995, 0.2], [0.5, 0.5, 0.5]])
    W = np.array([1.0, 1.0, 2.0])

    def test_max(self):
        """max follows the most alarmed detector."""
        assert combine(self.P, self.W, "max").tolist() == [0.999, 0.995, 0.5]

    def test_means(self):
        """mean ignores weights; weighted_mean uses them."""
        assert combine(self.P, self.W, "mean") == pytest.approx([1.499 / 3, 2.185 / 3, 0.5])
        assert combine(self.P, self.W, "weighted_mean") == pytest.approx([1.899 / 4, 2.385 / 4, 0.5])

    def test_vote(self):
        """vote: the level reached by detectors holding the quorum of weight."""
        assert combine(self.P, self.W, "vote", quorum=0.5).tolist() == [0.4, 0.99, 0.5]
        assert combine(self.P, np.ones(3), "vote", quorum=0.9).tolist() == [0.1, 0.2, 0.5]
        assert combine(self.P, np.ones(3), "vote", quorum=0.3).tolist() == [0.999, 0.995, 0.5]

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="unknown ensemble method"):
            combine(self.P, self.W, "median")


# scores drawn from few distinct values, so that ties (equal scores) are common
_scores = st.lists(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e39, -1e39]),
                             st.floats(-50.0, 50.0, allow_nan=False, width=32)), min_size=0, max_size=90)


def _fed(values: list[float], window: int, rows: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rings fed ``values`` in turn (row ``i % rows``) through ``remember_ranked``: (ring, order, seen)."""
    ring, seen = np.full((rows, window), KEY_INF, dtype=KEY_DTYPE), np.zeros(rows, dtype=np.int64)
    order = rank_rings(ring, seen)
    for i, v in enumerate(values):
        remember_ranked(order, ring, seen, np.array([i % rows]), np.array([v]))
    return ring, order, seen


class TestSortedRings:
    @settings(max_examples=150, deadline=None)
    @given(values=_scores, window=st.integers(1, 11))
    def test_sorted_view_is_the_sorted_ring(self, values, window):
        """After any sequence of scores the sorted view is the ring's remembered scores sorted, then +inf.

        The view is kept as positions in the ring: always a permutation of them, the free slots last in turn.
        """
        ring, order, seen = _fed(values, window)
        reference, ref_seen = np.zeros((1, window), dtype=np.float32), np.zeros(1, dtype=np.int64)
        for v in values:
            remember(reference, ref_seen, np.array([v]))
        n = min(len(values), window)
        assert ring.tolist() == free_as_inf(to_keys(reference), ref_seen).tolist() and seen.tolist() == ref_seen.tolist()
        kept = from_keys(ring[0, :n]).tolist()
        assert sorted_view(order, ring, seen)[0].tolist() == sorted(kept) + [np.inf] * (window - n)
        assert sorted(order[0].tolist()) == list(range(window)) and order[0, n:].tolist() == list(range(n, window))
        assert sorted_view(order, ring, seen).tolist() == sorted_view(rank_rings(ring, seen), ring, seen).tolist()

    @settings(max_examples=80, deadline=None)
    @given(values=st.lists(_scores, min_size=1, max_size=4).map(lambda parts: sum(parts, [])),
           window=st.integers(1, 9), rows=st.sampled_from([3, 80]), seed=st.integers(0, 2**16))
    def test_rows_updated_together_stay_apart(self, values, window, rows, seed):
        """Many rows updated in one call (index arrays or slices, by their number) each hold their own scores."""
        ring, seen = np.full((rows, window), KEY_INF, dtype=KEY_DTYPE), np.zeros(rows, dtype=np.int64)
        order = rank_rings(ring, seen)
        rng = np.random.default_rng(seed)
        values = ((values or [0.0]) * (12 * rows // max(len(values), 1) + 1))[:12 * rows]
        for start in range(0, len(values), rows):
            who = rng.permutation(rows)
            remember_ranked(order, ring, seen, who, np.array(values[start:start + rows]))
        assert seen.tolist() == [12] * rows
        assert sorted_view(order, ring, seen).tolist() == sorted_view(rank_rings(ring, seen), ring, seen).tolist()
        assert all(sorted(row) == list(range(window)) for row in order.tolist())

    def test_not_a_number_is_not_remembered(self):
        """A NaN score leaves ring, sorted view and count as they were."""
        ring, order, seen = _fed([1.0, 2.0], 4)
        remember_ranked(order, ring, seen, np.array([0]), np.array([np.nan]))
        assert seen.tolist() == [2] and sorted_view(order, ring, seen).tolist() == [[1.0, 2.0, np.inf, np.inf]]

    @settings(max_examples=150, deadline=None)
    @given(row=st.lists(st.sampled_from([-1.0, 0.0, 0.0, 1.0, 2.5, 7.0]), min_size=1, max_size=13),
           probes=st.lists(st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 2.5, 7.0, 8.0, np.inf, np.nan]), min_size=1,
                           max_size=6))
    def test_count_below_is_a_count(self, row, probes):
        """Bisection and whole-row comparison count the entries below each value, for any length, ties, infinities."""
        ring = to_keys(np.array([[9.0] * (len(row) + 2), row + [np.inf, np.inf]]))  # 2 slots free in row 1
        seen = np.array([len(row) + 2, len(row)])
        order = rank_rings(ring, seen)
        expected = [sum(x < p for x in row) for p in probes]
        n = np.full(len(probes), len(row))
        bounds = keys_at_least(np.array(probes))
        few = count_below(order, ring, n, np.ones(len(probes), dtype=np.intp), bounds)
        many = count_below(order, ring, np.tile(n, 120), np.ones(120 * len(probes), dtype=np.intp),
                           np.tile(bounds, 120))
        assert few.tolist() == expected and many.tolist() == expected * 120

    @settings(max_examples=120, deadline=None)
    @given(values=st.lists(st.one_of(st.floats(0.0, 10.0, width=32), st.sampled_from([0.0, 1.0, 3.0])), max_size=140),
           window=st.sampled_from([16, 40, 64]), queries=st.lists(st.one_of(
               st.floats(-1.0, 1e6, allow_nan=False), st.sampled_from([0.0, 1.0, 3.0, np.inf, np.nan])),
               min_size=1, max_size=8),
           streamed=st.booleans(), many=st.booleans())
    def test_queries_match_the_full_pass(self, values, window, queries, streamed, many):
        """Calibrated values and tail levels equal the full pass over the scores the ring's keys stand for.

        ``many`` repeats the queries past the count where rows are no longer
        compared whole but bisected.
        """
        ring, order, seen = _fed(values, window)
        raw = np.array(queries * (60 if many else 1))
        q = len(raw)
        tail = np.tile([40.0 if streamed else 3.0, 0.7, 1.1], (q, 1))
        kw = dict(min_history=5, tail_k=4, tail=tail, tail_min=16)
        old_p, old_level = calibrate_with_level(np.repeat(from_keys(ring), q, 0), np.repeat(seen, q), raw, **kw)
        p, level = calibrate_ranked(order, ring, np.zeros(q, dtype=np.intp), np.repeat(seen, q), raw, **kw)
        assert level.tolist() == old_level.astype(np.float64).tolist()
        np.testing.assert_allclose(p, old_p, rtol=0.0, atol=1e-6)
        np.testing.assert_allclose(1.0 - p, 1.0 - old_p, rtol=1e-4, atol=1e-12)

    def test_queries_read_only_their_rows(self):
        """Each query is calibrated against the ring row it names, whatever the other rows hold."""
        ring, seen = np.full((3, 32), KEY_INF, dtype=KEY_DTYPE), np.zeros(3, dtype=np.int64)
        order = rank_rings(ring, seen)
        for t in range(40):
            remember_ranked(order, ring, seen, np.arange(3), np.array([t % 10, 100.0 + t % 10, -t % 10]))
        p, _ = calibrate_ranked(order, ring, np.array([1, 0]), seen[[1, 0]], np.array([105.0, 105.0]), min_history=5)
        alone, _ = calibrate_ranked(order[1:2], ring[1:2], np.array([0]), seen[1:2], np.array([105.0]), min_history=5)
        assert p[0] == alone[0] and 0.4 < p[0] < 0.7 and p[1] > 0.95
