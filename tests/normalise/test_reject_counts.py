"""The ingest reject counters count dead-letter records: one each, whatever the payload's shape."""

from __future__ import annotations

import json

from aiops.pipeline.config import Settings
from aiops.pipeline.normalise.timestamps import parse_time
from aiops.pipeline.stages import NormaliseStage, RawMessage

NOW = parse_time("2025-11-22T10:00:00Z")
NS = int(NOW) * 1_000_000_000


def rejected_total(stage: NormaliseStage) -> int:
    return sum(v for k, v in stage.guard.stats().items() if k.startswith("rejected_"))


def test_every_counted_reject_is_one_dead_letter() -> None:
    stage = NormaliseStage(Settings())
    payloads = [
        f"a v=1 {NS}\nb v=x\nc v=1 1\n".encode(),  # one good, a parse reject, a too-old reject
        b"x v=abc\ny v=def\nz v=ghi\n",  # nothing good: one dead letter holding the payload
        json.dumps([{"name": "m", "fields": {"v": "nan"}, "timestamp": NOW}] * 3).encode(),
        json.dumps([{"name": "m", "tags": {"h": str(i)}, "fields": {"v": 1.0}, "timestamp": 1.0}
                    for i in range(4)]).encode(),  # four too old, nothing good: one dead letter
        b"\x00\xff garbage",
        f"d v=2 {NS}\n".encode(),
    ]
    messages = [RawMessage("metrics.raw", 0, i, p) for i, p in enumerate(payloads)]
    batch = stage.process("metrics", messages, now=NOW)
    dead = [json.loads(d) for d in batch.dead_letters]
    assert batch.event_count == 2
    assert rejected_total(stage) == len(dead) == 6
    stats = stage.guard.stats()
    assert stats["rejected_parse"] == 4 and stats["rejected_too_old"] == 2
    assert any("and 3 more bad items" in d["reason"] for d in dead)


def test_an_internal_error_is_counted_as_its_one_dead_letter(monkeypatch) -> None:
    from aiops.pipeline.normalise import dispatch

    def broken(self, raw):
        raise RuntimeError("boom")

    monkeypatch.setattr(dispatch._Normaliser, "run", broken)
    stage = NormaliseStage(Settings())
    batch = stage.process("metrics", [RawMessage("metrics.raw", 0, 0, b"a v=1")], now=NOW)
    assert len(batch.dead_letters) == 1
    assert stage.guard.stats()["rejected_internal"] == 1 == rejected_total(stage)
