"""The record one series' engine state is saved as, and how records are put back into a group's slots.

The record holds every array of the series' slot (whatever fields its group
keeps, less the sorted copy of the rings, which is derived), each detector's
key and settings digest, each bank's own state and the surprise track's; the
engine encodes it with ``state_codec`` (no pickle). Since version 2 the
slot's and the surprise track's arrays are each one ``ArrayTable``; version
1 records (a map of arrays) still load. Put back, a detector whose key or
settings changed since the export starts afresh while the series' own
counters, and the others' columns, are kept.

Records that fit the group as it is (same detectors, same settings, tables
of the layout its stores keep) are put back many at once (``restore_many``):
the same field of every record is one array assignment, the sorted rings are
rebuilt in one sort.

The rings hold 16-bit keys (``ring_keys``); a record whose rings hold
float32 scores (written before the keys) has them turned into keys on
restore, one record at a time.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from aiops.detectors.array_bank import ArrayBank
from aiops.detectors.calibration import free_as_inf, rank_rings
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.state_codec import ArrayTable, TableLayout
from aiops.detectors.episodes import Episodes
from aiops.detectors.ring_keys import to_keys
from aiops.detectors.scoring_group import SeriesGroup
from aiops.detectors.slots import SlotStore
from aiops.detectors.surprise import VISITS_CAP

STATE_VERSION = 2
#: Versions of engine records this code reads.
READABLE_VERSIONS = (1, 2)
#: Slot fields not saved: rebuilt from the others on restore.
DERIVED_FIELDS = ("order", "ranked")  # "ranked": the sorted copy of the rings that records before 2 held


def series_record(group: SeriesGroup, series_id: str, labels: dict[str, str], source: str) -> dict[str, Any]:
    """The state of a series the group knows, as plain data.

    A bank whose state cannot cross processes (``portable_state = False``) is
    saved without it (nor its digest) and starts afresh on restore.
    """
    rec = group.store.export(series_id)
    assert rec is not None
    for name in DERIVED_FIELDS:
        rec.pop(name, None)
    surprise = group.surprise.export(series_id)
    portable = [m.bank.portable_state for m in group.members]
    banks = [m.bank.export_state(series_id) if ok else None for m, ok in zip(group.members, portable)]
    return {"v": STATE_VERSION, "labels": labels, "source": source, "features": list(group.features),
            "keys": [m.key for m in group.members],
            "digests": [m.digest if ok else None for m, ok in zip(group.members, portable)],
            "banks": [_tabled(b) if isinstance(m.bank, ArrayBank) else b for m, b in zip(group.members, banks)],
            "slot": ArrayTable(rec), "surprise": None if surprise is None else ArrayTable(surprise)}


def _tabled(state: Any) -> Any:
    """A built-in bank's state with its arrays as one table (what its ``import_state`` reads back)."""
    if isinstance(state, dict) and isinstance(state.get("arrays"), dict):  # names as a list: a plain value
        return {**state, "features": list(state["features"]), "arrays": ArrayTable(state["arrays"])}
    return state


def plain_arrays(value: Any) -> Any:
    """A table's arrays as a map (a version-1 map of arrays, or anything else, as it is)."""
    return value.arrays() if isinstance(value, ArrayTable) else value


def record_layout(state: dict[str, Any]) -> tuple[dict[str, str], str, tuple[str, ...]]:
    """A record's labels, source and features, checked (``InputError`` when malformed)."""
    labels, source, features = state["labels"], state["source"], state["features"]
    if not (isinstance(labels, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
            and isinstance(source, str) and isinstance(features, (list, tuple)) and features
            and all(isinstance(f, str) for f in features) and len(set(features)) == len(features)):
        raise InputError("labels, source or features are malformed")
    keys, digests, banks, saved = state["keys"], state["digests"], state["banks"], state["slot"]
    if not (isinstance(keys, list) and isinstance(digests, list) and isinstance(banks, list)
            and len(keys) == len(digests) == len(banks) and isinstance(saved, (dict, ArrayTable))):
        raise InputError("detector lists or slot arrays are malformed")
    return dict(labels), source, tuple(features)


def restore_series(group: SeriesGroup, series_id: str, state: dict[str, Any]) -> None:
    """Put a checked record (``record_layout``) back into the series' slot of its group, and into its banks."""
    keys, digests, banks, saved = state["keys"], state["digests"], state["banks"], plain_arrays(state["slot"])
    slot = group.store.rows([series_id])[0]
    arrays = group.store.arrays
    current = [(m.key, m.digest) for m in group.members]
    saved = _rings_as_keys(saved)
    saved = {name: np.asarray(value) for name, value in saved.items()  # numpy scalars: one-value fields
             if name in arrays and isinstance(value, (np.ndarray, np.generic))
             and value.dtype.kind == arrays[name].dtype.kind}
    if current == list(zip(keys, digests)):  # same detectors, same settings: every field as it was
        for name, value in saved.items():
            if value.shape == arrays[name].shape[1:]:
                arrays[name][slot] = value
        if "order" in arrays:  # the sorted view is derived: rebuilt from the ring, never trusted
            arrays["ring"][slot] = free_as_inf(arrays["ring"][slot], arrays["seen"][slot])
            arrays["order"][slot] = rank_rings(arrays["ring"][slot], arrays["seen"][slot])
    else:
        _restore_changed(group, slot, saved, keys, digests)
    surprise = plain_arrays(state.get("surprise"))
    if isinstance(surprise, dict):  # a record without it (an older one) starts the surprise track afresh
        group.surprise.load(series_id, {k: np.asarray(v) for k, v in surprise.items()}, len(group.features))
    for m in group.members:
        if (m.key, m.digest) in zip(keys, digests):
            bank_state = banks[keys.index(m.key)]
            if bank_state is not None:
                m.bank.import_state(series_id, bank_state)


def _rings_as_keys(saved: Any) -> Any:
    """A record's slot arrays with rings of float scores (written before the keys) turned into keys.

    >>> _rings_as_keys({"ring": np.array([[1.0, np.inf]], dtype=np.float32)})["ring"].tolist()
    [[49024, 65408]]
    """
    ring = saved.get("ring") if isinstance(saved, dict) else None
    if isinstance(ring, np.ndarray) and ring.dtype.kind == "f":
        return {**saved, "ring": to_keys(ring)}
    return saved


def _restore_changed(group: SeriesGroup, slot: int, saved: dict[str, np.ndarray], keys: list[Any],
                     digests: list[Any]) -> None:
    """Detectors changed since the export: series counters, and the columns of detectors that did not."""
    arrays = group.store.arrays

    def fits(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> bool:
        return value is not None and name in arrays and value.shape == shape

    for name in ("count", "notches", "run", "last", *Episodes.fields()):  # the series', not a detector's
        if fits(name, saved.get(name), arrays[name].shape[1:] if name in arrays else ()):
            arrays[name][slot] = saved[name]
    lag = group.lag
    waiting = False
    if lag is not None and all(f"lag_{k}" in saved for k in ("x", "t", "ok")):
        waiting = lag.restore(arrays, slot, {"delay": lag.delay, "x": saved["lag_x"], "t": saved["lag_t"],
                                             "ok": saved["lag_ok"], "filled": saved.get("lag_filled")})
    for j, m in enumerate(group.members):
        i = next((i for i, (k, d) in enumerate(zip(keys, digests)) if k == m.key and d == m.digest), None)
        if waiting:  # the points waiting to be learned stay; a changed detector keeps them out of its ring
            columns = None
            if i is not None and all(fits(f"lag_{k}", saved.get(f"lag_{k}"), (lag.delay, len(keys)))
                                     for k in ("raw", "level", "warm")):
                columns = lag.detector_columns(saved, i)
            lag.restore_detector(arrays, slot, j, columns)
        ring, seen, tail = saved.get("ring"), saved.get("seen"), saved.get("tail")
        if i is None or not fits("ring", ring, (len(keys), *arrays["ring"].shape[2:])) \
                or not fits("seen", seen, (len(keys),)):
            continue
        arrays["ring"][slot, j] = free_as_inf(ring[i][None], np.array([seen[i]]))[0]
        arrays["seen"][slot, j] = seen[i]
        arrays["order"][slot, j] = rank_rings(ring[i][None], np.array([seen[i]]))[0]
        if fits("tail", tail, (len(keys), *arrays["tail"].shape[2:])):
            arrays["tail"][slot, j] = tail[i]


# -- many records at once ---------------------------------------------------------------------------


def bulk_key(group: SeriesGroup, state: dict[str, Any]) -> tuple[Any, ...] | None:
    """What makes a checked record fit ``restore_many`` with others of the same key; None: restore it alone.

    A record fits when it has the group's detectors with the same settings and
    its slot, surprise and bank states are tables of layouts the group's
    stores keep as they are (checked once per layout, see ``_BulkPlan``).
    """
    slot, surprise, banks = state["slot"], state.get("surprise"), state["banks"]
    if not isinstance(slot, ArrayTable) or not isinstance(surprise, ArrayTable):
        return None
    tables: list[tuple[TableLayout, Any] | None] = []
    for bank in banks:
        if bank is None:
            tables.append(None)
        elif isinstance(bank, dict) and isinstance(bank.get("arrays"), ArrayTable):
            names = bank.get("features")
            tables.append((bank["arrays"].layout, tuple(names) if isinstance(names, list) else names))
        else:
            return None
    key = (slot.layout, surprise.layout, tuple(tables), tuple(state["keys"]), tuple(state["digests"]))
    plans = group.bulk_plans
    try:
        plan = plans.get(key, False)
    except TypeError:  # a part that is no name nor digest: the single restore says what is wrong
        return None
    if plan is False:
        if len(plans) > 64:
            plans.clear()
        plan = plans[key] = _BulkPlan.of(group, key)
    return key if plan is not None else None


class _BulkPlan:
    """Which fields of which tables go where, for records of one ``bulk_key``."""

    def __init__(self, slot: list[int], banks: list[tuple[int, list[int]] | None]) -> None:
        self.slot, self.banks = slot, banks

    @classmethod
    def of(cls, group: SeriesGroup, key: tuple[Any, ...]) -> _BulkPlan | None:
        slot, surprise, tables, keys, digests = key
        if [(m.key, m.digest) for m in group.members] != list(zip(keys, digests)):
            return None
        features = len(group.features)
        store = group.surprise._bind(features)
        wanted = {name: (arr.shape[1:], arr.dtype.kind) for name, arr in store.arrays.items()}
        if {n: (s, dt.kind) for n, s, dt in zip(surprise.names, surprise.shapes, surprise.dtypes)} != wanted:
            return None  # older or other fields: ``SurpriseTrack.load`` converts or refuses them one by one
        if any(n == "ring" and dt.kind == "f" for n, dt in zip(slot.names, slot.dtypes)):
            return None  # rings of float scores: ``restore_series`` turns them into keys
        plan_banks: list[tuple[int, list[int]] | None] = []
        for j, (m, table) in enumerate(zip(group.members, tables)):
            if table is None:
                plan_banks.append(None)
                continue
            layout, bank_features = table
            if not isinstance(m.bank, ArrayBank) or bank_features != group.features:
                return None
            fields = _fitting(m.bank._bind(group.features), layout)
            if fields is None:
                return None
            plan_banks.append((j, fields))
        fields = _fitting(group.store, slot, loose=True)
        return None if fields is None else cls(fields, plan_banks)


def _fitting(store: SlotStore, layout: TableLayout, *, loose: bool = False) -> list[int] | None:
    """The fields of ``layout`` a store keeps, by position; None if one is of another kind or shape.

    ``loose``: such a field is skipped instead (as a single record's restore skips it).
    """
    out = []
    for i, (name, dt, shape) in enumerate(zip(layout.names, layout.dtypes, layout.shapes)):
        arr = store.arrays.get(name)
        if arr is None or name in DERIVED_FIELDS:
            continue
        if arr.dtype.kind != dt.kind or arr.shape[1:] != shape:
            if loose:
                continue
            return None
        out.append(i)
    return out


def restore_many(group: SeriesGroup, series: Sequence[str], states: Sequence[dict[str, Any]],
                 key: tuple[Any, ...], *, coming: int = 0) -> None:
    """Put back records of one ``bulk_key`` (the series not in the group's stores): field by field, not record
    by record. ``coming``: how many more series may follow, for which the stores make room now, in one go.
    """
    plan: _BulkPlan = group.bulk_plans[key]
    slot_layout, surprise_layout = key[0], key[1]
    stores = [group.store, group.surprise._bind(len(group.features))]
    stores += [m.bank._bind(group.features) for m, b in zip(group.members, plan.banks) if b is not None]
    for store in stores:
        store.reserve(len(store) + len(series) + coming)
    slots = group.store.claim(series, written={slot_layout.names[i] for i in plan.slot} | {"order"})
    _assign(group.store, slots, slot_layout, [s["slot"] for s in states], plan.slot)
    arrays = group.store.arrays
    if "order" in arrays:  # the sorted view is derived: rebuilt from the ring, never trusted
        ring = arrays["ring"][slots] = free_as_inf(arrays["ring"][slots], arrays["seen"][slots])
        arrays["order"][slots] = rank_rings(ring.reshape(-1, ring.shape[-1]),
                                             arrays["seen"][slots].reshape(-1)).reshape(ring.shape)
    store = group.surprise._bind(len(group.features))
    rows = store.claim(series, written=surprise_layout.names)  # every field: the plan checked the layout
    columns = ArrayTable.stack([s["surprise"] for s in states])
    for name, value in columns.items():
        store.arrays[name][rows] = np.minimum(value, VISITS_CAP) if name in ("dvisits", "wvisits") else value
    for m, bank_plan in zip(group.members, plan.banks):
        if bank_plan is None:
            continue
        j, fields = bank_plan
        bank_store = m.bank._bind(group.features)
        layout = key[2][j][0]
        claimed = bank_store.claim(series, written={layout.names[i] for i in fields})
        _assign(bank_store, claimed, layout, [s["banks"][j]["arrays"] for s in states], fields)


def _assign(store: SlotStore, slots: np.ndarray, layout: TableLayout, tables: list[ArrayTable],
            fields: list[int]) -> None:
    rows = np.frombuffer(b"".join(t.blob for t in tables), dtype=np.uint8).reshape(len(tables), layout.row_bytes)
    for i in fields:
        store.arrays[layout.names[i]][slots] = layout.column(rows, i)
