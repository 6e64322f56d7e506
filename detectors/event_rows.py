"""A batch of events checked and turned into rows: the engine's input side.

Most batches are plainly valid (plain dicts of plain finite numbers, finite
times, every series with its usual features): whole-batch checks say so and
one C-speed pass builds the matrix. Anything else is checked event by event,
with a message naming the event and what is wrong.
"""

from __future__ import annotations

import math
from itertools import chain
from operator import itemgetter
from typing import Any, Sequence

import numpy as np

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event

_DICT = frozenset((dict,))
_PLAIN_NUMBERS = frozenset((float, int))


def check_event(i: int, event: Event) -> None:
    """Raise ``InputError`` naming what is wrong with event ``i`` (no features, a bad time, a bad value)."""
    features = event.features
    if not isinstance(features, dict) or not features:
        raise InputError(f"event {i} ({event.series_id!r}) has no features")
    t = event.time
    if type(t) is not float and (type(t) is not int):
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise InputError(f"event {i} ({event.series_id!r}) has no numeric time: {t!r}")
    if t - t != 0.0:
        raise InputError(f"event {i} ({event.series_id!r}) has no finite time: {t!r}")
    for name, value in features.items():
        kind = type(value)
        if kind is float:
            if value - value != 0.0 and value == value:
                raise InputError(f"event {i} ({event.series_id!r}) feature {name!r} is infinite")
        elif kind is not int:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"event {i} ({event.series_id!r}) feature {name!r} is not a number: {value!r}")
            if math.isinf(value):
                raise InputError(f"event {i} ({event.series_id!r}) feature {name!r} is infinite")


def layout_matrix(features: tuple[str, ...], times: list[Any], feats: list[Any]) -> np.ndarray | None:
    """The (rows, features) values of a batch certainly valid and carrying exactly ``features``; else None.

    Valid as ``check_event`` means it (plain numbers, NaN but no infinity;
    finite times), checked by whole-column passes; None sends the batch down
    the general path, which checks event by event and warns about extras.

    >>> layout_matrix(("a", "b"), [0.0, 1], [{"b": 2.0, "a": 1}, {"a": math.nan, "b": 3.0}]).tolist()
    [[1.0, 2.0], [nan, 3.0]]
    >>> [layout_matrix(("a",), [0.0], [f]) for f in ({}, {"a": 1.0, "b": 2.0}, {"a": math.inf}, {"a": True})]
    [None, None, None, None]
    >>> layout_matrix(("a",), [math.nan], [{"a": 1.0}]) is None
    True
    """
    n, f = len(feats), len(features)
    # valid, and exactly the layout's keys: all of them present and no more keys than that in total
    if not plainly_valid(times, feats) or sum(map(len, feats)) != n * f:
        return None
    try:
        return np.array(list(map(itemgetter(*features), feats)), dtype=float).reshape(n, f)
    except (KeyError, OverflowError):  # a feature missing; an int beyond the floats
        return None


def plainly_valid(times: list[Any], features: list[Any]) -> bool:
    """True when whole-batch checks show every event valid: plain dicts of plain finite numbers, finite times.

    False means "look closer", not "invalid": ``check_event`` then decides, event by event, with its messages.

    >>> plainly_valid([0.0, 1], [{"v": 1.0}, {"v": math.nan, "w": 2}])
    True
    >>> [plainly_valid([0.0], [f]) for f in ({}, {"v": math.inf}, {"v": True}, {"v": "1"})]
    [False, False, False, False]
    """
    if not set(map(type, features)) <= _DICT or not all(features) or not plain_times(times):
        return False
    values = list(chain.from_iterable(map(dict.values, features)))
    return set(map(type, values)) <= _PLAIN_NUMBERS and math.inf not in values and -math.inf not in values


def plain_times(times: list[Any]) -> bool:
    """True when every time is a plain finite number (their sum is finite only then, or it overflowed).

    >>> [plain_times([0.0, 1]), plain_times([1e308, 1e308])]
    [True, False]
    >>> [plain_times([t]) for t in (math.nan, -math.inf, "0", True, 10 ** 400)]
    [False, False, False, False, False]
    """
    if not set(map(type, times)) <= _PLAIN_NUMBERS:
        return False
    try:
        return math.isfinite(sum(times))
    except OverflowError:  # an int beyond the floats
        return False


def steps_of(series_ids: Sequence[str]) -> list[int]:
    """The step of each row: how many rows of its series came before it in the batch.

    >>> steps_of(["a", "b", "a", "a", "b"])
    [0, 0, 1, 2, 1]
    """
    seen: dict[str, int] = {}
    steps = []
    for sid in series_ids:
        k = seen.get(sid, 0)
        seen[sid] = k + 1
        steps.append(k)
    return steps


def steps_by_code(codes: np.ndarray) -> np.ndarray:
    """``steps_of`` for rows given as integer codes (one per series), by one stable sort instead of a dict.

    >>> steps_by_code(np.array([5, 9, 5, 5, 9])).tolist()
    [0, 0, 1, 2, 1]
    """
    n = codes.shape[0]
    order = np.argsort(codes, kind="stable")  # each series' rows together, in batch order
    ranked = codes[order]
    at = np.arange(n)
    first = np.maximum.accumulate(np.where(np.r_[True, ranked[1:] != ranked[:-1]], at, 0))
    steps = np.empty(n, dtype=np.int64)
    steps[order] = at - first
    return steps
