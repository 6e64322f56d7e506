"""The worker's counters, served as Prometheus text on /metrics.

>>> s = WorkerStats(); s.events_in += 3
>>> "aiops_events_in_total 3" in s.prometheus()
True
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

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def prometheus(self, extra: dict[str, float] | None = None) -> str:
        lines = []
        for name, value in {**self.as_dict(), **(extra or {})}.items():
            metric = f"aiops_{name}_total" if not name.endswith("_total") else f"aiops_{name}"
            lines.append(f"# TYPE {metric} counter")
            lines.append(f"{metric} {value}")
        return "\n".join(lines) + "\n"
