"""``Score`` objects from the engine's per-row arrays, built a whole column at a time.

A worker builds one ``Score`` per event it sends on; building them from
``tolist`` columns and literal dict displays keeps that cost a small share
of scoring.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from aiops.detectors.core.shapes import Score
from aiops.detectors.episodes import END_REASONS
from aiops.detectors.scoring_group import StepResult


def build_scores(members: Sequence[str], features: tuple[str, ...], ids: list[str], times: list[Any],
                 res: StepResult) -> list[Score]:
    """One ``Score`` per row, its dicts built from whole columns (``tolist``) by dict displays.

    ``members`` name the columns of ``calibrated`` and ``raw``, ``features`` those of the per-feature arrays.
    """
    by_detector = dict_rows(tuple(members))
    feats = features
    n = len(ids)
    expected: list[dict[str, tuple[float, float]]]
    if len(feats) == 1:  # one feature: literal one-key dicts, the common metric case
        f0 = feats[0]
        contributions = [{f0: c} for c in res.contributions[:, 0].tolist()]
        if res.low is None or res.high is None:
            expected = [{} for _ in range(n)]
        else:
            expected = [{f0: (lo, hi)} if lo == lo else {}
                        for lo, hi in zip(res.low[:, 0].tolist(), res.high[:, 0].tolist())]
    else:
        by_feature = dict_rows(feats)
        contributions = by_feature(res.contributions.tolist())
        if res.low is None or res.high is None:
            expected = [{} for _ in range(n)]
        elif not np.isnan(res.low).any():
            expected = by_feature(map(zip, res.low.tolist(), res.high.tolist()))
        else:
            expected = [{f: (a, b) for f, a, b in zip(feats, lo, hi) if a == a}
                        for lo, hi in zip(res.low.tolist(), res.high.tolist())]
    # columns (d lists of n) are cheaper to get than rows; zip turns them back into rows
    detectors = by_detector(zip(*res.calibrated.T.tolist()))
    raw = by_detector(zip(*res.raw.T.tolist()))
    return list(map(Score, ids, times, res.score.tolist(), res.threshold.tolist(), res.flagged.tolist(),
                    detectors, raw, contributions, expected, res.learned.tolist(),
                    res.anomaly_score.tolist(), res.alert.tolist(), res.episode.tolist(),
                    [END_REASONS[e] for e in res.ended.tolist()]))


@lru_cache(maxsize=1024)
def dict_rows(keys: tuple[str, ...]) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    """A function turning rows of values into dicts over ``keys``.

    Up to eight keys, a dict display written out per arity (about twice as fast as ``dict(zip)``);
    more keys, ``dict(zip)``. No code is generated at run time.

    >>> dict_rows(("a", "b"))([[1.0, 2.0], (3.0, 4.0)])
    [{'a': 1.0, 'b': 2.0}, {'a': 3.0, 'b': 4.0}]
    >>> dict_rows(("a",))(zip([5.0]))
    [{'a': 5.0}]
    >>> dict_rows(tuple("abcdefghij"))([range(10)])[0]["j"]
    9
    """
    display = _DISPLAYS.get(len(keys))
    if display is not None:
        return display(*keys)
    return lambda rows: [dict(zip(keys, values)) for values in rows]


def _display1(a: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0} for v0, in rows]


def _display2(a: str, b: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1} for v0, v1 in rows]


def _display3(a: str, b: str, c: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2} for v0, v1, v2 in rows]


def _display4(a: str, b: str, c: str, d: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3} for v0, v1, v2, v3 in rows]


def _display5(a: str, b: str, c: str, d: str, e: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4} for v0, v1, v2, v3, v4 in rows]


def _display6(a: str, b: str, c: str, d: str, e: str,
              f: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4, f: v5} for v0, v1, v2, v3, v4, v5 in rows]


def _display7(a: str, b: str, c: str, d: str, e: str, f: str,
              g: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4, f: v5, g: v6} for v0, v1, v2, v3, v4, v5, v6 in rows]


def _display8(a: str, b: str, c: str, d: str, e: str, f: str, g: str,
              h: str) -> Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]:
    return lambda rows: [{a: v0, b: v1, c: v2, d: v3, e: v4, f: v5, g: v6, h: v7}
                         for v0, v1, v2, v3, v4, v5, v6, v7 in rows]


_DISPLAYS: dict[int, Callable[..., Callable[[Iterable[Iterable[Any]]], list[dict[str, Any]]]]] = {
    1: _display1, 2: _display2, 3: _display3, 4: _display4, 5: _display5, 6: _display6, 7: _display7, 8: _display8}


def take_rows(res: StepResult, pick: np.ndarray) -> StepResult:
    """The rows ``pick`` of every array of ``res``."""
    return StepResult(res.score[pick], res.threshold[pick], res.flagged[pick], res.learned[pick],
                      res.calibrated[pick], res.raw[pick], res.contributions[pick],
                      None if res.low is None else res.low[pick], None if res.high is None else res.high[pick],
                      *(None if v is None else v[pick]
                        for v in (res.anomaly_score, res.alert, res.episode, res.ended, res.hot)))
