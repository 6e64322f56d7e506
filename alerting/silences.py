"""Silences: mute alerts whose labels match, between a start and an end.

Persisted as one JSON file (written atomically) when a path is given; the
same dicts go to a compacted topic through ``export`` / ``import_``.

>>> from structlog.testing import capture_logs
>>> store = SilenceStore()
>>> with capture_logs() as logs:
...     s = store.create(["host=web-1", "severity!=critical"], starts_at=0, ends_at=100,
...                      created_by="ana", comment="deploy", now=0)
...     expired = store.expire(s.id, now=10)
>>> [e["event"] for e in logs], expired.status(10)
(['silence.created', 'silence.expired'], 'expired')
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import structlog

from aiops.alerting.matchers import matches_all, parse_matchers
from aiops.detectors.core.errors import InputError

log = structlog.get_logger(__name__)


class SilenceError(InputError):
    """A silence request is invalid or names an unknown silence."""


@dataclass(slots=True)
class Silence:
    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float

    def status(self, now: float) -> str:
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        data = asdict(self)
        if now is not None:
            data["status"] = self.status(now)
        return data


class SilenceStore:
    """Create, list, expire silences and ask which ones mute a label set."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else None
        self._silences: dict[str, Silence] = {}
        self._compiled: dict[str, list[Any]] = {}
        self._by_label: dict[tuple[str, str], set[str]] = {}  # one equality matcher -> silence ids
        self._unindexed: set[str] = set()
        if self.path and self.path.exists():
            self._load()

    def create(self, matchers: list[str], *, starts_at: float, ends_at: float, created_by: str,
               comment: str = "", now: float, silence_id: str | None = None) -> Silence:
        """Add a silence; raises ``SilenceError`` for bad matchers or times."""
        if not isinstance(matchers, list) or not matchers:
            raise SilenceError("a silence needs at least one matcher")
        compiled = parse_matchers(matchers)
        if not all(isinstance(t, (int, float)) for t in (starts_at, ends_at)) or ends_at <= starts_at:
            raise SilenceError("ends_at must be a time after starts_at")
        if not created_by or not isinstance(created_by, str):
            raise SilenceError("created_by is required")
        silence = Silence(silence_id or uuid.uuid4().hex[:12], list(matchers), float(starts_at),
                          float(ends_at), created_by, str(comment or ""), float(now))
        self._add(silence, compiled)
        self._collect(now)
        log.info("silence.created", id=silence.id, matchers=matchers, by=created_by,
                 starts_at=starts_at, ends_at=ends_at)
        self._save()
        return silence

    def get(self, silence_id: str) -> Silence:
        try:
            return self._silences[silence_id]
        except KeyError:
            raise SilenceError(f"unknown silence {silence_id!r}") from None

    def list(self, now: float, *, include_expired: bool = True) -> list[Silence]:
        items = sorted(self._silences.values(), key=lambda s: (s.starts_at, s.id))
        return [s for s in items if include_expired or s.status(now) != "expired"]

    def expire(self, silence_id: str, *, now: float) -> Silence:
        """End a silence now (an already expired one is left as it is)."""
        silence = self.get(silence_id)
        if silence.status(now) != "expired":
            silence.ends_at = max(float(now), silence.starts_at)
            if silence.ends_at > now:  # pending: ends before it starts
                silence.ends_at = silence.starts_at = float(now)
            log.info("silence.expired", id=silence_id)
            self._save()
        return silence

    def silenced_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        """Ids of the active silences matching these labels."""
        candidates = set(self._unindexed)
        for item in labels.items():
            candidates |= self._by_label.get(item, set())
        return sorted(i for i in candidates
                      if self._silences[i].status(now) == "active" and matches_all(self._compiled[i], labels))

    def export(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._silences.values()]

    def import_(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            silence = Silence(**item)
            self._add(silence, parse_matchers(silence.matchers))

    def _add(self, silence: Silence, compiled: list[Any]) -> None:
        self._silences[silence.id] = silence
        self._compiled[silence.id] = compiled
        equal = [m for m in compiled if m.op == "=" and m.value != ""]
        if equal:
            self._by_label.setdefault((equal[0].name, equal[0].value), set()).add(silence.id)
        else:
            self._unindexed.add(silence.id)

    def _collect(self, now: float, retention_s: float = 5 * 86400.0) -> None:
        """Forget silences expired longer than ``retention_s`` ago."""
        for sid in [s.id for s in self._silences.values() if now - s.ends_at > retention_s]:
            compiled = self._compiled.pop(sid)
            del self._silences[sid]
            self._unindexed.discard(sid)
            for m in compiled:
                self._by_label.get((m.name, m.value), set()).discard(sid)

    def _load(self) -> None:
        assert self.path is not None
        try:
            self.import_(json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError, InputError) as exc:
            raise SilenceError(f"cannot read silences from {self.path}: {exc}") from exc

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.export(), indent=1))
        os.replace(tmp, self.path)
