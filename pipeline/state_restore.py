"""Applying the state records of an assignment while the state topic is still being read.

The state topic is read in a thread (``aiops.pipeline.state_store``), which
hands over a batch of records at a time; each batch is unsealed, checked and
applied on the event loop under the scorer's lock while the client fetches
the next records in its own threads. Reading and applying overlap, and what
is held at once is a batch of records, not the whole topic.

The latest record of a key decides, as when the whole topic is read first:
a later record of a series restored from an earlier batch replaces it, and a
deletion or a refused record leaves it fresh again. The alerting state is
kept aside for the worker (``alerting_state``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from aiops.detectors.core import state_codec
from aiops.pipeline.stages import ScoreStage, forget_log_state, state_series_id
from aiops.pipeline.stats import WorkerStats
from aiops.pipeline.topics import partition_for

log = structlog.get_logger(__name__)


class StateRestore:
    """One assignment's restore into ``scorer``: the records of ``parts`` (of ``partitions``) are applied."""

    def __init__(self, scorer: ScoreStage, *, parts: set[int], partitions: int, state_key: bytes | None,
                 stats: WorkerStats, lock: asyncio.Lock, alerting_key: str) -> None:
        self.scorer, self.parts, self.partitions, self.state_key = scorer, parts, partitions, state_key
        self.stats, self.lock, self.alerting_key = stats, lock, alerting_key
        self.alerting_state: bytes | None = None
        self.applied = 0  # records applied (a key read twice counts twice)
        self.apply_s = 0.0  # seconds on the event loop unsealing, checking and applying
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restored: set[str] = set()  # keys applied so far: a later deletion or refusal undoes them

    def bind(self) -> None:
        """Hand-overs from other threads go to the running loop (call on it, before the read starts)."""
        self._loop = asyncio.get_running_loop()

    def hand_over(self, batch: dict[str, bytes | None], left: int) -> None:
        """A batch read (on the reading thread): applied on the loop; returns once it is, so the reading waits
        rather than piling up records (the client keeps fetching ahead meanwhile)."""
        assert self._loop is not None, "bind() first"
        asyncio.run_coroutine_threadsafe(self.apply(batch, left), self._loop).result()

    async def apply(self, batch: dict[str, bytes | None], left: int = 0) -> None:
        """Unseal, check and apply a batch of records; ``left``: about how many may follow (room is made)."""
        async with self.lock:
            started = asyncio.get_running_loop().time()
            try:
                self._apply(batch, left)
            finally:
                self.apply_s += asyncio.get_running_loop().time() - started

    def _apply(self, batch: dict[str, bytes | None], left: int) -> None:
        states: dict[str, bytes] = {}
        undone: list[str] = []
        for key, data in batch.items():
            if data is None:
                undone.append(key)
                continue
            try:
                record = state_codec.unseal(key, data, self.state_key)
            except state_codec.StateError as exc:
                self.stats.state_records_rejected += 1
                log.warning("state.rejected", key=key, reason=str(exc))
                undone.append(key)
                continue
            if key == self.alerting_key:
                self.alerting_state = record
            elif partition_for(state_series_id(key), self.partitions) in self.parts:
                states[key] = record
        batch.clear()  # each record read is let go once unsealed: not every record twice in memory
        self._undo([key for key in (*undone, *states) if key in self._restored])  # read again: the latest decides
        if not states:
            return
        rejected_before = self.scorer.state_rejected
        applied = self.scorer.import_states(states, coming=left)
        self.stats.state_records_rejected += self.scorer.state_rejected - rejected_before
        self.stats.state_records_loaded += applied
        self.applied += applied
        self._restored.update(states)

    def _undo(self, keys: list[str]) -> None:
        """Keys restored from an earlier batch and read again (a deletion, a refused or a newer record): fresh."""
        if not keys:
            return
        gone = set(keys)
        self._restored -= gone
        self.scorer.engine.forget([key.partition("/")[2] for key in keys if key.startswith("engine/")])
        logs = {key.partition("/")[2] for key in keys if not key.startswith("engine/")}
        if logs:
            forget_log_state(self.scorer, logs.__contains__)


def restore_summary(restore: StateRestore, read_s: float, total_s: float, cpu_s: float) -> dict[str, Any]:
    """What ``state.restored`` logs of a restore."""
    return {"records": restore.applied, "read_ms": round(read_s * 1000), "apply_ms": round(restore.apply_s * 1000),
            "total_ms": round(total_s * 1000), "cpu_ms": round(cpu_s * 1000)}
