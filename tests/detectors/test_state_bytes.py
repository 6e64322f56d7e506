"""What a tracked series costs the engine in array state: the bulk of a worker's memory per series.

``aiops bench memory`` measures the worker's resident set per series (the
README's figure); this holds the engine's part of it, which is exact and
the same on any machine, so a field that grows shows here first.
"""

from __future__ import annotations

import numpy as np

from aiops.detectors.array_bank import ArrayBank
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine
from aiops.detectors.slots import SlotStore

#: A univariate series with the default detectors: 6,688 bytes when the rings became 16-bit keys (8,224 before).
UNIVARIATE_BOUND = 7_000


def _stores(engine) -> list[SlotStore]:
    out = []
    for group in engine._groups.values():
        out += [group.store, group.surprise._bind(len(group.features))]
        out += [m.bank._bind(group.features) for m in group.members if isinstance(m.bank, ArrayBank)]
    return out


def _bytes_per_series(stores: list[SlotStore]) -> tuple[int, list[tuple[int, str]]]:
    fields = [(arr.nbytes // arr.shape[0], name) for store in stores for name, arr in store.arrays.items()]
    return sum(size for size, _ in fields), sorted(fields, reverse=True)


def test_a_univariate_series_holds_under_seven_kilobytes_of_arrays() -> None:
    engine = build_engine(None)
    rng = np.random.default_rng(0)
    for t in range(40):
        engine.process([Event("metric", f"cpu|host=h{s}", {"host": f"h{s}"}, 60.0 * t, {"value": float(rng.normal())})
                        for s in range(20)])
    stores = _stores(engine)
    assert len(engine._groups) == 1 and all(len(store) == 20 for store in stores)
    total, fields = _bytes_per_series(stores)
    assert total <= UNIVARIATE_BOUND, f"{total} bytes a series; largest fields {fields[:6]}"
    ring = engine._groups[next(iter(engine._groups))].store.arrays["ring"]
    assert ring.dtype == np.uint16  # the calibration rings: two bytes a score
