"""The scoring engine: events in, calibrated and explained scores out, strictly online.

A batch is cut into steps (the k-th event of each series is in step k);
series sharing a profile and a feature layout form a group whose banks score
the whole step at once. Per step: score with every bank, calibrate each
detector against the series' own past, combine, threshold (never during
warm-up), explain, then learn from the rows that were not flagged.

The engine routes: events are checked and made rows in ``event_rows``, a
group scores its steps in ``scoring_group``, ``score_rows`` builds the
``Score`` objects (only the notable ones for ``process_notable``) and
``engine_state`` writes and reads a series' state record.

>>> from structlog.testing import capture_logs
>>> from aiops.detectors.core.shapes import Event
>>> with capture_logs() as logs:
...     engine = build_engine(DetectionConfig(warmup=30))
>>> logs[0]["event"], logs[0]["config_hash"] == engine.config_hash
('detection config applied', True)
>>> events = [Event("metric", "cpu|host=a", {"host": "a"}, float(t), {"user": 10.0 + (t % 7) * 0.1})
...           for t in range(200)]
>>> scores = engine.process(events)
>>> spike = engine.process([Event("metric", "cpu|host=a", {"host": "a"}, 200.0, {"user": 50.0})])[0]
>>> spike.is_anomaly, spike.learned, max(s.score for s in scores[100:]) < spike.score < 1.0
(True, False, True)
>>> low, high = spike.expected["user"]
>>> bool(low < 10.3 < high)
True
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import structlog

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, Score
from aiops.detectors.engine_state import (
    READABLE_VERSIONS,
    STATE_VERSION,
    bulk_key,
    record_layout,
    restore_many,
    restore_series,
    series_record,
)
from aiops.detectors.event_rows import check_event, layout_matrix, plainly_valid, steps_by_code
from aiops.detectors.score_rows import build_scores, take_rows
from aiops.detectors.scoring_group import Profile, SeriesGroup, StepResult
from aiops.detectors.tally import DetectorTally

__all__ = ["Engine", "STATE_VERSION", "StepResult", "build_engine"]

log = structlog.get_logger(__name__)

_GROUP_OF = attrgetter("group")

VERDICTS = ("false_positive", "true_positive")


@dataclass(slots=True)
class _SeriesInfo:
    """What the engine keeps per series besides its slots: a few hundred thousand of these live in a worker.

    ``group`` is the group's own key (one tuple for all its series); the labels
    are a flat tuple (name, value, name, value ...), a third of a dict's size.
    """

    group: tuple[int, tuple[str, ...]]
    flat_labels: tuple[str, ...]
    source: str

    @property
    def labels(self) -> dict[str, str]:
        flat = self.flat_labels
        return dict(zip(flat[::2], flat[1::2]))


class Engine:
    """Implements ``ScoringEngine`` (see ``aiops.detectors.base``)."""

    def __init__(self, config: DetectionConfig) -> None:
        self._series: dict[str, _SeriesInfo] = {}
        self._groups: dict[tuple[int, tuple[str, ...]], SeriesGroup] = {}
        self._warned_extra: set[str] = set()
        self.tally = DetectorTally()  # per detector, for the worker's /metrics
        self._apply(config)

    # -- configuration -------------------------------------------------------------------------
    def _apply(self, config: DetectionConfig) -> None:
        self.config = config
        top = Profile("default", None, tuple(config.detectors), config.threshold, config.warmup, config.ensemble)
        self._profiles = [
            Profile(p.name or f"profiles.{i}", p.match, tuple(p.detectors or config.detectors),
                    p.threshold if p.threshold is not None else config.threshold,
                    p.warmup if p.warmup is not None else config.warmup, p.ensemble or config.ensemble)
            for i, p in enumerate(config.profiles)
        ] + [top]
        self.config_hash = config.digest()
        log.info("detection config applied", config_hash=self.config_hash, profiles=len(config.profiles),
                 detectors=[d.key for d in config.detectors])

    def _profile_index(self, series_id: str, labels: dict[str, str], source: str) -> int:
        for i, prof in enumerate(self._profiles[:-1]):
            assert prof.match is not None
            if prof.match.matches(series_id, labels, source):
                return i
        return len(self._profiles) - 1

    def _group(self, key: tuple[int, tuple[str, ...]]) -> tuple[tuple[int, tuple[str, ...]], SeriesGroup]:
        """The group of this key, made when new, and the key it is filed under (the one tuple its series share)."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = SeriesGroup(self._profiles[key[0]], key[1], self.config)
            group.key = key
        return group.key, group

    def _register(self, series_id: str, labels: dict[str, str], source: str, features: Iterable[str]) -> _SeriesInfo:
        info = self._series.get(series_id)
        if info is None:
            feats = tuple(sorted(features))
            key, _ = self._group((self._profile_index(series_id, labels, source), feats))
            flat = tuple(part for pair in labels.items() for part in pair)
            info = self._series[series_id] = _SeriesInfo(key, flat, source)
        return info

    # -- scoring -------------------------------------------------------------------------------
    def process(self, events: Sequence[Event], *, learn: Sequence[bool] | None = None) -> list[Score]:
        """One ``Score`` per event, in order; each scored before it is learned from."""
        return self._process(events, learn, notable=False)  # type: ignore[return-value]

    def process_notable(self, events: Sequence[Event], *, learn: Sequence[bool] | None = None) -> list[Score | None]:
        """``process``, with None for each event neither in an episode nor ending one.

        The same scoring and learning, the same ``Score`` for the events it
        keeps; only the objects nobody sends on are not built (most of a
        worker's events). ``process`` is this with every ``Score`` built.
        """
        return self._process(events, learn, notable=True)

    def _process(self, events: Sequence[Event], learn: Sequence[bool] | None, *, notable: bool) -> list[Score | None]:
        n = len(events)
        if learn is not None and len(learn) != n:
            raise InputError(f"learn has {len(learn)} flags for {n} events")
        if not n:
            return []
        ids, times, feats = [e.series_id for e in events], [e.time for e in events], [e.features for e in events]
        flags = np.ones(n, dtype=bool) if learn is None else np.asarray(learn, dtype=bool)
        quiet = self._replayed(events)
        group = self._single_step_group(ids)
        if group is not None:  # the steady state of a worker: each known series once, scored in batch order
            X = layout_matrix(group.features, times, feats)
            if X is not None:
                return self._score_rows(group, ids, times, X, flags, [(0, n)], quiet, notable)
        return self._process_by_group(events, ids, times, feats, flags, quiet, notable)

    def _replayed(self, events: Sequence[Event]) -> np.ndarray | None:
        """Events older than ``detection.learn_only_older_than_s`` when ingested (replayed history); None: none."""
        limit = self.config.learn_only_older_than_s
        if limit is None:
            return None
        age = np.fromiter((e.ingest_time - e.time if e.ingest_time else 0.0 for e in events), dtype=float,
                          count=len(events))
        return age > limit

    def _single_step_group(self, ids: list[str]) -> SeriesGroup | None:
        """The group of a batch of known series all of one group, each once; None for any other batch."""
        infos = list(map(self._series.get, ids))
        if not all(infos) or len(set(ids)) != len(ids):
            return None
        key = infos[0].group
        keys = [info.group for info in infos]
        return self._groups[key] if keys.count(key) == len(keys) else None

    def _process_by_group(self, events: Sequence[Event], ids: list[str], times: list[Any],
                          feats: list[dict[str, float]], flags: np.ndarray,
                          quiet: np.ndarray | None = None, notable: bool = False) -> list[Score | None]:
        """Any batch: check it, register new series, score each group step by step, put the scores back in order."""
        n = len(events)
        plain = plainly_valid(times, feats)
        if not plain:
            for i, event in enumerate(events):
                check_event(i, event)
        infos = list(map(self._series.get, ids))
        if not all(infos):
            infos = [info or self._register(e.series_id, e.labels, e.source, e.features)
                     for info, e in zip(infos, events)]
        # the step of each row, by series identity (one _SeriesInfo a series): None when every series is there once
        step_of = steps_by_code(np.fromiter(map(id, infos), dtype=np.int64, count=n)) if len(set(ids)) < n else None
        keys = list(map(_GROUP_OF, infos))
        by_group: dict[tuple[int, tuple[str, ...]], np.ndarray]
        if keys.count(keys[0]) == n:  # one group: the common case
            by_group = {keys[0]: np.arange(n)}
        else:
            members: dict[tuple[int, tuple[str, ...]], list[int]] = {}
            for i, key in enumerate(keys):
                members.setdefault(key, []).append(i)
            by_group = {key: np.array(idx, dtype=np.intp) for key, idx in members.items()}
        results: list[Score | None] = [None] * n
        for key, idx in by_group.items():
            if step_of is None:
                order, bounds = idx, [(0, len(idx))]
            else:  # by step, then by position in the batch (idx is ascending and the sort is stable)
                order = idx[np.argsort(step_of[idx], kind="stable")]
                cuts = np.flatnonzero(np.diff(step_of[order])) + 1
                bounds = list(zip([0, *cuts.tolist()], [*cuts.tolist(), len(order)]))
            group = self._groups[key]
            at = order.tolist()
            rows = list(map(ids.__getitem__, at))
            X = self._matrix(group.features, rows, list(map(feats.__getitem__, at)), plain)
            scores = self._score_rows(group, rows, list(map(times.__getitem__, at)), X, flags[order], bounds,
                                      None if quiet is None else quiet[order], notable)
            for pos, score in zip(at, scores):
                results[pos] = score
        return results  # type: ignore[return-value]

    def _score_rows(self, group: SeriesGroup, ids: list[str], times: list[Any], X: np.ndarray, flags: np.ndarray,
                    bounds: Sequence[tuple[int, int]], quiet: np.ndarray | None = None,
                    notable: bool = False) -> list[Score | None]:
        """Run one group on its rows (already in step order) and build their ``Score`` objects.

        ``notable``: only those of rows in an episode or ending one, None for the others.
        """
        res = group.run(ids, X, np.array(times, dtype=float), flags, bounds, quiet)
        self.tally.add([m.key for m in group.members], res.calibrated, threshold=res.threshold, alert=res.alert)
        if not notable:
            return build_scores(group.keys, group.features, ids, times, res)  # type: ignore[return-value]
        keep = np.flatnonzero(res.flagged | (res.ended != 0)).tolist()
        out: list[Score | None] = [None] * len(ids)
        if keep:
            kept = build_scores(group.keys, group.features, [ids[i] for i in keep], [times[i] for i in keep],
                                take_rows(res, np.array(keep)))
            for i, score in zip(keep, kept):
                out[i] = score
        return out

    def _matrix(self, features: tuple[str, ...], ids: Sequence[str], feats: Sequence[dict[str, float]],
                plain: bool) -> np.ndarray:
        """The rows' values in the group's feature order (NaN where absent), warning once per series about extras.

        ``plain``: every row is a plain ``dict`` (no subclass whose lookups could differ from ``dict.get``).
        """
        n, f = len(feats), len(features)
        complete = plain
        if plain:
            try:  # every feature present: one pass at C speed
                X = np.array(list(map(itemgetter(*features), feats)), dtype=float).reshape(n, f)
            except KeyError:
                complete = False
        if not complete:
            nan = math.nan
            X = np.array([[d.get(k, nan) for k in features] for d in feats], dtype=float).reshape(n, f)
        # with every feature present, as many keys as features in total means no extra key anywhere
        if not complete or sum(map(len, feats)) != n * f:
            self._warn_extra(set(features), ids, feats)
        return X

    def _warn_extra(self, layout: set[str], ids: Sequence[str], feats: Sequence[dict[str, float]]) -> None:
        for sid, d in zip(ids, feats):
            if not d.keys() <= layout and sid not in self._warned_extra:
                self._warned_extra.add(sid)
                extra = sorted(set(d) - layout)
                log.warning("features not in the series layout are ignored", series_id=sid, extra=extra)

    def score_series(self, series_id: str, times: np.ndarray, X: np.ndarray, features: Sequence[str], *,
                     labels: Mapping[str, str] | None = None, source: str = "metric",
                     learn: np.ndarray | None = None) -> tuple[list[str], StepResult]:
        """Score one series' rows in time order, one step per row: the backtest's fast path.

        Gives exactly what ``process`` gives for the same events (fed at once
        or one by one), without building a ``Score`` per row. Returns the
        detector names (columns of ``calibrated``/``raw``) and the arrays.
        """
        return self.score_many_series([(series_id, times, X)], features, labels=labels, source=source,
                                      learn=None if learn is None else [learn])[0]

    def score_many_series(self, items: Sequence[tuple[str, np.ndarray, np.ndarray]], features: Sequence[str], *,
                          labels: Mapping[str, str] | None = None, source: str = "metric",
                          learn: Sequence[np.ndarray] | None = None) -> list[tuple[list[str], StepResult]]:
        """Score several series of the same features side by side (step k = the k-th row of each).

        Each ``(series_id, times, X)`` gets the same arrays it would get alone:
        series are independent, only the work is shared.
        """
        by_group: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        prepared = []
        for i, (sid, times, X) in enumerate(items):
            X = np.asarray(X, dtype=float)
            if X.ndim != 2 or X.shape[1] != len(features) or len(times) != X.shape[0]:
                raise InputError(f"series {sid}: X of shape {X.shape} does not match {len(times)} times "
                                 f"and {len(features)} features")
            if np.isinf(X).any():
                raise InputError(f"series {sid}: infinite values")
            info = self._register(sid, dict(labels or {}), source, features)
            group = self._groups[info.group]
            column = {f: c for c, f in enumerate(features)}
            Xg = np.column_stack([X[:, column[f]] if f in column else np.full(len(X), np.nan)
                                  for f in group.features])
            flags = np.ones(len(X), dtype=bool) if learn is None else np.asarray(learn[i], dtype=bool)
            prepared.append((sid, np.asarray(times, dtype=float), Xg, flags))
            by_group.setdefault(info.group, []).append(i)
        out: list[tuple[list[str], StepResult] | None] = [None] * len(items)
        for key, members in by_group.items():
            group = self._groups[key]
            lengths = np.array([len(prepared[i][1]) for i in members])
            # rows ordered by (step, member): row k of every member, then row k + 1 ...
            step = np.concatenate([np.arange(n) for n in lengths])
            who = np.concatenate([np.full(n, j) for j, n in enumerate(lengths)])
            order = np.lexsort((who, step))
            series = [prepared[members[j]][0] for j in who[order].tolist()]
            X = np.concatenate([prepared[i][2] for i in members])[order]
            times = np.concatenate([prepared[i][1] for i in members])[order]
            flags = np.concatenate([prepared[i][3] for i in members])[order]
            cuts = np.flatnonzero(np.diff(step[order])) + 1
            bounds = list(zip(np.concatenate(([0], cuts)).tolist(), np.concatenate((cuts, [len(order)])).tolist()))
            res = group.run(series, X, times, flags, bounds)
            names = [m.key for m in group.members]
            offsets = np.concatenate(([0], np.cumsum(lengths)))
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
            for j, i in enumerate(members):
                pick = inverse[offsets[j]:offsets[j + 1]]
                out[i] = (names, take_rows(res, pick))
        return out  # type: ignore[return-value]

    # -- state ---------------------------------------------------------------------------------
    def series_ids(self) -> list[str]:
        return sorted(self._series)

    def export_state(self, series_ids: Iterable[str]) -> dict[str, bytes]:
        """One state record per known series (unknown ids are left out), in the state codec (no pickle).

        What a record holds: ``aiops.detectors.engine_state``. A bank whose state cannot cross processes
        (``portable_state = False``) is saved without it and starts afresh on restore.
        """
        out: dict[str, bytes] = {}
        for sid in series_ids:
            info = self._series.get(sid)
            if info is not None:
                record = series_record(self._groups[info.group], sid, info.labels, info.source)
                out[sid] = state_codec.dumps(record)
        return out

    def import_state(self, states: Mapping[str, bytes]) -> None:
        """Restore series; detectors whose settings changed since the export start afresh.

        A record that cannot be read or does not fit raises ``InputError`` naming the series, which is
        then left fresh; the other records are restored (``restore`` says which were refused).
        """
        refused = self.restore(states)
        if refused:
            raise next(iter(refused.values()))

    def restore(self, states: Mapping[str, bytes], *, chunk: int = 2000, coming: int = 0) -> dict[str, InputError]:
        """Restore series from their state records, many at once; returns the refused ones, with why.

        Records are decoded and checked one by one; those that fit their group
        as it is are put back together (``engine_state.restore_many``), in
        chunks of ``chunk`` records so that the decoded ones held at once stay few.
        A refused series is left fresh. ``coming``: how many more records may follow in a later call
        (the stores make room for them now, in one go).
        """
        refused: dict[str, InputError] = {}
        items = iter(states.items())
        left = len(states)
        paused = gc.isenabled()
        gc.disable()  # records hold no cycles; the collector would scan every series' objects again and again
        try:
            while left > 0:
                batch = [item for _, item in zip(range(chunk), items)]
                left -= len(batch)
                self._restore_batch(batch, refused, coming=left + coming)
        finally:
            if paused:
                gc.enable()
        return refused

    def _restore_batch(self, batch: list[tuple[str, bytes]], refused: dict[str, InputError], *,
                       coming: int) -> None:
        together: dict[tuple[Any, ...], tuple[SeriesGroup, list[str], list[dict[str, Any]]]] = {}
        for sid, blob in batch:
            try:
                state = state_codec.loads(blob)
            except state_codec.StateError as exc:
                refused[sid] = InputError(f"state of {sid!r} cannot be read: {exc}")
                continue
            if not isinstance(state, dict) or type(state.get("v")) is not int or state["v"] not in READABLE_VERSIONS:
                refused[sid] = InputError(f"state of {sid!r} is not a version {STATE_VERSION} engine state")
                continue
            if sid in self._series:
                self.forget([sid])
            try:
                labels, source, features = record_layout(state)
                info = self._register(sid, labels, source, features)
                group = self._groups[info.group]
                key = bulk_key(group, state)
                if key is None:
                    restore_series(group, sid, state)
                else:
                    _, sids, records = together.setdefault((info.group, key), (group, [], []))
                    sids.append(sid)
                    records.append(state)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, InputError) as exc:
                self.forget([sid])
                refused[sid] = InputError(f"state of {sid!r} does not fit: {type(exc).__name__}: {exc}")
        for (_, key), (group, sids, records) in together.items():
            restore_many(group, sids, records, key, coming=coming)

    def forget(self, series_ids: Iterable[str]) -> None:
        for sid in list(series_ids):
            info = self._series.pop(sid, None)
            if info is None:
                continue
            group = self._groups[info.group]
            group.store.drop(sid)
            group.surprise.forget([sid])
            for m in group.members:
                m.bank.forget(sid)

    def reconfigure(self, config: DetectionConfig) -> None:
        """Apply a new configuration, keeping each series' state for detectors whose settings did not change."""
        states = self.export_state(self.series_ids())
        self._series.clear()
        self._groups.clear()
        self._apply(config)
        self.import_state(states)

    def feedback(self, series_id: str, time: float, verdict: str) -> None:
        """A false positive raises this series' threshold a notch; a true positive lowers it back one."""
        if verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        info = self._series.get(series_id)
        if info is None:
            raise InputError(f"feedback for unknown series {series_id!r}")
        group = self._groups[info.group]
        slot = group.store.rows([series_id])[0]
        notches = group.store.arrays["notches"]
        before = int(notches[slot])
        if verdict == "false_positive":
            notches[slot] = min(before + 1, self.config.feedback.max_notches)
        else:
            notches[slot] = max(before - 1, 0)
        log.info("feedback applied", series_id=series_id, time=time, verdict=verdict, notches=int(notches[slot]),
                 threshold=self.threshold_of(series_id))

    def threshold_of(self, series_id: str) -> float:
        """The threshold this series is flagged at now (its profile's, moved by feedback)."""
        info = self._series.get(series_id)
        if info is None:
            raise InputError(f"unknown series {series_id!r}")
        group = self._groups[info.group]
        notches = int(group.store.arrays["notches"][group.store.rows([series_id])[0]])
        return 1.0 - (1.0 - group.profile.threshold) * self.config.feedback.notch ** notches


def build_engine(config: DetectionConfig | None = None) -> Engine:
    """The engine the pipeline runs (default settings when ``config`` is None)."""
    return Engine(config if config is not None else DetectionConfig())
