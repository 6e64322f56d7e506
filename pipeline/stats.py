"""The worker's counters, as /healthz serves them (``aiops.pipeline.self_metrics`` serves /metrics).

>>> s = WorkerStats(); s.events_in += 3
>>> s.as_dict()["events_in"]
3
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class WorkerStats:
    messages_in: int = 0
    events_in: int = 0
    points_scored: int = 0
    anomalies: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    state_records_saved: int = 0
    state_records_loaded: int = 0
    state_records_rejected: int = 0
    feedback_applied: int = 0
    records_held: int = 0  # records of failed batches, left uncommitted to be read again
    # the last restore of assigned partitions: reading the state topic while checking and applying the records read
    last_restore_ms: int = 0  # from the start of the read until every record is applied
    last_restore_read_ms: int = 0  # until the state topic is read to its end (applying meanwhile)
    last_restore_apply_ms: int = 0  # checking and applying, over every batch (most of it while reading)
    last_restore_cpu_ms: int = 0  # CPU time of the whole process (every thread) over the restore

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
