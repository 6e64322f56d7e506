"""The record one series' engine state is saved as, and how a record is put back into a group's slot.

The record holds every array of the series' slot (whatever fields its group
keeps), each detector's key and settings digest, each bank's own state and
the surprise track's; the engine encodes it with ``state_codec`` (no pickle).
Put back, a detector whose key or settings changed since the export starts
afresh while the series' own counters, and the others' columns, are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiops.detectors.calibration import rank_rings
from aiops.detectors.core.errors import InputError
from aiops.detectors.episodes import Episodes
from aiops.detectors.scoring_group import SeriesGroup

STATE_VERSION = 1


def series_record(group: SeriesGroup, series_id: str, labels: dict[str, str], source: str) -> dict[str, Any]:
    """The state of a series the group knows, as plain data.

    A bank whose state cannot cross processes (``portable_state = False``) is
    saved without it (nor its digest) and starts afresh on restore.
    """
    rec = group.store.export(series_id)
    assert rec is not None
    portable = [m.bank.portable_state for m in group.members]
    return {"v": STATE_VERSION, "labels": labels, "source": source, "features": group.features,
            "keys": [m.key for m in group.members],
            "digests": [m.digest if ok else None for m, ok in zip(group.members, portable)],
            "banks": [m.bank.export_state(series_id) if ok else None for m, ok in zip(group.members, portable)],
            "slot": rec, "surprise": group.surprise.export(series_id)}


def record_layout(state: dict[str, Any]) -> tuple[dict[str, str], str, tuple[str, ...]]:
    """A record's labels, source and features, checked (``InputError`` when malformed)."""
    labels, source, features = state["labels"], state["source"], state["features"]
    if not (isinstance(labels, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
            and isinstance(source, str) and isinstance(features, (list, tuple)) and features
            and all(isinstance(f, str) for f in features) and len(set(features)) == len(features)):
        raise InputError("labels, source or features are malformed")
    keys, digests, banks, saved = state["keys"], state["digests"], state["banks"], state["slot"]
    if not (isinstance(keys, list) and isinstance(digests, list) and isinstance(banks, list)
            and len(keys) == len(digests) == len(banks) and isinstance(saved, dict)):
        raise InputError("detector lists or slot arrays are malformed")
    return dict(labels), source, tuple(features)


def restore_series(group: SeriesGroup, series_id: str, state: dict[str, Any]) -> None:
    """Put a checked record (``record_layout``) back into the series' slot of its group, and into its banks."""
    keys, digests, banks, saved = state["keys"], state["digests"], state["banks"], state["slot"]
    slot = group.store.rows([series_id])[0]
    arrays = group.store.arrays
    current = [(m.key, m.digest) for m in group.members]
    saved = {name: np.asarray(value) for name, value in saved.items()  # numpy scalars: one-value fields
             if name in arrays and isinstance(value, (np.ndarray, np.generic))
             and value.dtype.kind == arrays[name].dtype.kind}
    if current == list(zip(keys, digests)):  # same detectors, same settings: every field as it was
        for name, value in saved.items():
            if value.shape == arrays[name].shape[1:]:
                arrays[name][slot] = value
        if "ranked" in arrays:  # the sorted copy is derived: rebuilt from the ring, never trusted
            arrays["ranked"][slot] = rank_rings(arrays["ring"][slot], arrays["seen"][slot])
    else:
        _restore_changed(group, slot, saved, keys, digests)
    surprise = state.get("surprise")
    if isinstance(surprise, dict):  # a record without it (an older one) starts the surprise track afresh
        group.surprise.load(series_id, {k: np.asarray(v) for k, v in surprise.items()}, len(group.features))
    for m in group.members:
        if (m.key, m.digest) in zip(keys, digests):
            bank_state = banks[keys.index(m.key)]
            if bank_state is not None:
                m.bank.import_state(series_id, bank_state)


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
        arrays["ring"][slot, j] = ring[i]
        arrays["seen"][slot, j] = seen[i]
        arrays["ranked"][slot, j] = rank_rings(ring[i][None], np.array([seen[i]]))[0]
        if fits("tail", tail, (len(keys), *arrays["tail"].shape[2:])):
            arrays["tail"][slot, j] = tail[i]
