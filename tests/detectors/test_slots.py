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


def test_reused_engine_slot_starts_with_empty_rings() -> None:
    """A series given the slot of a forgotten one scores as in a fresh engine (ring and its sorted copy reset)."""
    from aiops.detectors.config import DetectionConfig
    from aiops.detectors.core.shapes import Event
    from aiops.detectors.engine import build_engine

    rng = np.random.default_rng(4)
    old = [Event("metric", "old", {}, float(t), {"v": float(v)}) for t, v in enumerate(rng.normal(50.0, 9.0, 300))]
    new = [Event("metric", "new", {}, float(t), {"v": float(v)}) for t, v in enumerate(rng.normal(size=300))]
    reused, fresh = build_engine(DetectionConfig(warmup=10)), build_engine(DetectionConfig(warmup=10))
    reused.process(old)
    reused.forget(["old"])
    got, want = reused.process(new), fresh.process(new)
    assert [(s.score, s.detectors, s.raw) for s in got] == [(s.score, s.detectors, s.raw) for s in want]
    group = next(iter(reused._groups.values()))
    assert group.store.rows(["new"]).tolist() == [0]


def test_grown_arrays_stay_contiguous_so_flat_views_write_through() -> None:
    """After growing, a flat view of an array is the array itself (rings are updated through such views)."""
    store = SlotStore({"ring": ((2, 3), np.float32(0.0))}, capacity=2)
    rows = store.rows([f"s{i}" for i in range(5)])
    ring = store.arrays["ring"]
    assert ring.flags.c_contiguous and ring.shape[0] >= 5
    ring.reshape(-1, 3)[rows[4] * 2 + 1, 2] = 7.0
    assert store.export("s4")["ring"].tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 7.0]]
