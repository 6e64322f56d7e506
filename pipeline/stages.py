"""The worker's two stages as plain classes: no broker, no Faust, testable alone.

``NormaliseStage`` turns raw Kafka payloads into events grouped by the
partition of the events topic their series belongs to, and dead-letter
records for whatever cannot be used. ``ScoreStage`` turns a batch of events
of the partitions a worker owns into anomalies: log lines through log
intelligence and per-window counts, metrics through the scoring engine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Callable, Iterable, Literal

import structlog

from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Anomaly, Event, Score
from aiops.pipeline.config import Settings
from aiops.pipeline.log_windows import LogWindowAggregator
from aiops.pipeline.normalise.deadletter import dead_letter_record
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.topics import partition_for

log = structlog.get_logger(__name__)

Kind = Literal["metrics", "logs"]
_SERIES_ID = attrgetter("series_id")
_SOURCE = attrgetter("source")


@dataclass(slots=True)
class RawMessage:
    """One Kafka record as the worker received it."""

    topic: str
    partition: int | None
    offset: int | None
    value: bytes


@dataclass
class NormalisedBatch:
    events_by_partition: dict[int, list[Event]] = field(default_factory=dict)
    dead_letters: list[bytes] = field(default_factory=list)
    skipped: int = 0

    @property
    def event_count(self) -> int:
        return sum(len(v) for v in self.events_by_partition.values())


class NormaliseStage:
    """Raw payloads to events, partitioned by series id; rejects to dead letters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.guard = IngestGuard(settings.ingest)
        self.partitions = settings.kafka.partitions
        self._partition_of: dict[str, int] = {}  # series id -> partition, bounded like the guard's series set

    def process(self, kind: Kind, messages: Iterable[RawMessage], *, now: float) -> NormalisedBatch:
        batch = NormalisedBatch()
        grouped: dict[int, list[Event]] = defaultdict(list)
        known = self._partition_of
        for msg in messages:
            result = normalise(kind, msg.value, now=now, guard=self.guard)
            batch.skipped += result.skipped
            events = result.events
            for event in events:
                event.ingest_time = now
            ids = list(map(_SERIES_ID, events))
            partitions = list(map(known.get, ids))
            if None in partitions:
                partitions = list(map(self.partition_of, ids))
            for partition, event in zip(partitions, events):
                grouped[partition].append(event)
            for reject in result.rejects:
                batch.dead_letters.append(
                    dead_letter_record(reject.fragment, reject.reason, topic=msg.topic,
                                       partition=msg.partition, offset=msg.offset, stage="normalise", now=now)
                )
        batch.events_by_partition = dict(grouped)
        return batch

    def partition_of(self, series_id: str) -> int:
        """``partition_for(series_id, partitions)``, remembered (a fleet sends the same series again and again)."""
        known = self._partition_of.get(series_id)
        if known is None:
            if len(self._partition_of) >= self.guard.settings.max_series:
                self._partition_of.clear()
            known = self._partition_of[series_id] = partition_for(series_id, self.partitions)
        return known


def episode_end(score: Score) -> dict[str, Any]:
    """The record that tells alerting a series' episode ended, and why (it resolves the series' alert).

    >>> episode_end(Score("cpu|host=a", 60.0, 0.2, 0.99, False, episode=0, ended="returned"))
    {'kind': 'episode_end', 'series_id': 'cpu|host=a', 'time': 60.0, 'reason': 'returned'}
    """
    return {"kind": "episode_end", "series_id": score.series_id, "time": score.time, "reason": score.ended}


@dataclass
class ScoredBatch:
    anomalies: list[Anomaly] = field(default_factory=list)
    episode_ends: list[dict[str, Any]] = field(default_factory=list)  # ``episode_end`` records, see ``_score``
    scored: int = 0
    log_lines: int = 0


class ScoreStage:
    """Events of owned partitions to anomalies; keeps every per-series state it touches."""

    def __init__(self, settings: Settings, *, engine=None, log_intelligence=None, log_windows=None,
                 learn_filter: Callable[[Event], bool] | None = None,
                 on_scored: Callable[[list[Event], list[Score]], None] | None = None) -> None:
        from aiops.detectors.engine import build_engine

        self.settings = settings
        self.engine = engine if engine is not None else build_engine(settings.detection)
        self.log_windows = log_windows if log_windows is not None else LogWindowAggregator(settings.ingest.log_window_s)
        if log_intelligence is None:
            from aiops.detectors.logs.intelligence import LogIntelligence

            log_intelligence = LogIntelligence(settings.logs)
        self.log_intelligence = log_intelligence
        self.learn_filter = learn_filter
        self.on_scored = on_scored  # every scored point, e.g. to the score output
        self.dirty: set[str] = set()
        self.dirty_log_sources: set[str] = set()
        self.state_rejected = 0

    def process(self, events: list[Event], *, now: float) -> ScoredBatch:
        out = ScoredBatch()
        if "log" in map(_SOURCE, events):
            logs = [e for e in events if e.source == "log"]
            metrics = [e for e in events if e.source != "log"]
        else:  # a batch of metrics only: no walk of its own
            logs, metrics = [], list(events)
        if logs:
            out.log_lines = len(logs)
            result = self.log_intelligence.process(logs, now=now)
            out.anomalies.extend(result.anomalies)
            metrics.extend(result.metric_events)
            metrics.extend(self.log_windows.add(logs))
            self.dirty_log_sources.update(e.series_id for e in logs)
        metrics.extend(self.log_windows.flush(now))
        if metrics:
            out.anomalies.extend(self._score(metrics, now=now, ends=out.episode_ends))
            out.scored = len(metrics)
        return out

    def _score(self, events: list[Event], *, now: float, ends: list[dict[str, Any]] | None = None) -> list[Anomaly]:
        """Anomalies of the scored points; each episode that ended becomes an ``episode_end`` record in ``ends``."""
        learn = [self.learn_filter(e) for e in events] if self.learn_filter else None
        if self.on_scored is not None:  # every point's score is wanted
            scores = self.engine.process(events, learn=learn)
            self.on_scored(events, scores)
        else:  # only those of points in an episode or ending one are built: the others are not sent on
            scores = self.engine.process_notable(events, learn=learn)
        self.dirty.update(map(_SERIES_ID, events))
        if ends is not None:
            ends.extend(episode_end(s) for s in scores if s is not None and s.ended)
        return [
            Anomaly.from_scored(event, score, detected_time=now)
            for event, score in zip(events, scores)
            if score is not None and score.is_anomaly
        ]

    # -- state ------------------------------------------------------------------

    def export_dirty(self) -> dict[str, bytes]:
        """State records changed since the last call: key -> bytes (prefix says whose state)."""
        states: dict[str, bytes] = {}
        if self.dirty:
            for sid, blob in self.engine.export_state(sorted(self.dirty)).items():
                states[f"engine/{sid}"] = blob
            self.dirty.clear()
        if self.dirty_log_sources:
            windows = self.log_windows.export_state()["series"]
            for key in sorted(self.dirty_log_sources):
                if key in windows:
                    states[f"logwin/{key}"] = state_codec.dumps(windows[key])
            for key, blob in self.log_intelligence.export_state(sorted(self.dirty_log_sources)).items():
                states[f"logintel/{key}"] = blob
            self.dirty_log_sources.clear()
        return states

    def import_states(self, states: dict[str, bytes], *, coming: int = 0) -> int:
        """Load state records read back from the state topic; returns how many were applied.

        ``coming``: about how many more records a restore reading in batches still has (room is made at once).

        A record that cannot be read (malformed, truncated, of an unknown version) is skipped, logged with
        its reason and counted in ``state_rejected``; its key starts fresh and the others still load.
        """
        buckets: dict[str, dict[str, bytes]] = defaultdict(dict)
        for key, blob in states.items():
            owner, _, sid = key.partition("/")
            buckets[owner][sid] = blob
        engine_states = buckets.get("engine", {})
        refused = self.engine.restore(engine_states, coming=coming) if engine_states else {}
        for sid, exc in refused.items():
            self._reject(f"engine/{sid}", exc)
        applied = len(engine_states) - len(refused)
        if buckets.get("logwin"):
            merged = self.log_windows.export_state()
            for sid, blob in buckets["logwin"].items():
                try:
                    window = _checked_window(state_codec.loads(blob))
                except InputError as exc:
                    self._reject(f"logwin/{sid}", exc)
                    continue
                merged["series"][sid] = window
                applied += 1
            self.log_windows = LogWindowAggregator.from_state(merged)
        if buckets.get("logintel"):
            wanted = buckets["logintel"]
            self.log_intelligence.forget(list(wanted))
            self.log_intelligence.import_state(wanted)  # logs and drops the records it cannot read
            restored = set(self.log_intelligence.keys()) & set(wanted)
            applied += len(restored)
            self.state_rejected += len(wanted) - len(restored)
        return applied

    def _reject(self, key: str, exc: Exception) -> None:
        self.state_rejected += 1
        log.warning("state.rejected", key=key, reason=str(exc))


def _checked_window(window: object) -> dict:
    """A log window record read back, with the types its fields must have; ``InputError`` otherwise.

    >>> _checked_window({"labels": {"host": "a"}, "start": None, "count": 3})["count"]
    3
    >>> _checked_window({"labels": {"host": "a"}, "count": "3"})
    Traceback (most recent call last):
    ...
    aiops.detectors.core.errors.InputError: log window field 'count' is not a count
    """
    numbers = ("ingest_time", "closed_until")
    counts = ("count", "errors", "warnings", "empties")
    if not isinstance(window, dict) or set(window) - {"labels", "start", *numbers, *counts}:
        raise InputError("log window record has unknown fields")
    labels = window.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InputError("log window labels are not a map of strings")
    for name in numbers + ("start",):
        value = window.get(name)
        if value is not None and type(value) not in (int, float):
            raise InputError(f"log window field {name!r} is not a number")
    for name in counts:
        value = window.get(name, 0)
        if type(value) is not int or value < 0:
            raise InputError(f"log window field {name!r} is not a count")
    return window


def state_series_id(state_key: str) -> str:
    """The series a state record belongs to (its partition follows the series).

    >>> state_series_id("engine/cpu|host=a")
    'cpu|host=a'
    """
    return state_key.partition("/")[2]


def export_series(scorer: ScoreStage, series: list[str]) -> dict[str, bytes]:
    """``scorer.export_dirty()`` of these series (and of the changed log sources); the series that changed
    meanwhile stay dirty.
    """
    since = scorer.dirty
    scorer.dirty = set(series)
    try:
        return scorer.export_dirty()
    finally:
        scorer.dirty = since


def forget_log_state(scorer: ScoreStage, moved) -> None:
    """Drop the log windows and log sources whose key ``moved(key)`` says went to another worker."""
    state = scorer.log_windows.export_state()
    kept = {key: window for key, window in state["series"].items() if not moved(key)}
    if len(kept) != len(state["series"]):
        scorer.log_windows = LogWindowAggregator.from_state({**state, "series": kept})
    scorer.log_intelligence.forget([key for key in scorer.log_intelligence.keys() if moved(key)])
