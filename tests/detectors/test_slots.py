"""Slot lookups: repeated queries of one step reuse the answer, and any change of slots is seen."""

from __future__ import annotations

import numpy as np
import pytest

from aiops.detectors.slots import SlotStore


def _store() -> SlotStore:
    return SlotStore({"v": ((), 0.0)}, capacity=2)


def test_repeated_query_gives_same_slots_read_only() -> None:
    """A second query of equal series gives the same slots, which callers cannot overwrite."""
    store = _store()
    first = store.rows(["a", "b", "c"])
    again = store.rows(["a", "b", "c"])
    assert again.tolist() == first.tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        again[0] = 5


def test_dropped_series_get_fresh_slots() -> None:
    """After a drop, the freed slot goes to the next new series and the dropped one is new again."""
    store = _store()
    assert store.rows(["a", "b"]).tolist() == [0, 1]
    store.arrays["v"][0] = 7.0
    store.drop("a")
    assert store.rows(["c"]).tolist() == [0]
    assert store.rows(["a", "b"]).tolist() == [2, 1]
    assert store.arrays["v"][2] == 0.0


def test_other_series_or_order_are_looked_up() -> None:
    """Queries that differ in content or order are answered afresh; tuples and arrays of ids work too."""
    store = _store()
    store.rows(["a", "b"])
    assert store.rows(["b", "a"]).tolist() == [1, 0]
    assert store.rows(("a", "b")).tolist() == [0, 1]
    assert store.rows(np.array(["b", "b"])).tolist() == [1, 1]
    assert store.rows([]).tolist() == []
