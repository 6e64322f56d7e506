"""A restore that applies the state topic batch by batch ends where reading it whole would: the latest record of
a key decides, also across batches, and what cannot be read is refused with its reason while the rest loads."""

from __future__ import annotations

import asyncio
import uuid

from structlog.testing import capture_logs

from aiops.detectors.core import state_codec
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import Settings
from aiops.pipeline.stages import ScoreStage
from aiops.pipeline.state_restore import StateRestore
from aiops.pipeline.state_store import read_state
from aiops.pipeline.stats import WorkerStats

ALERTING = "alerting/policy"


def _records(series: list[str], points: int = 30) -> dict[str, bytes]:
    """Sealed (unsigned) engine records of univariate series that had ``points`` points."""
    stage = ScoreStage(Settings())
    for i in range(points):
        stage.process([Event("metric", sid, {"host": sid}, 1000.0 + 60 * i, {"v": float(i % 7 + k)})
                       for k, sid in enumerate(series)], now=1000.0 + 60 * i)
    return {f"engine/{sid}": state_codec.seal(f"engine/{sid}", blob, None)
            for sid, blob in stage.engine.export_state(series).items()}


def _restore(batches: list[dict[str, bytes | None]]) -> tuple[ScoreStage, StateRestore, WorkerStats]:
    scorer, stats = ScoreStage(Settings()), WorkerStats()
    restore = StateRestore(scorer, parts={0}, partitions=1, state_key=None, stats=stats, lock=asyncio.Lock(),
                           alerting_key=ALERTING)

    async def run() -> None:
        for i, batch in enumerate(batches):
            await restore.apply(dict(batch), left=len(batches) - i - 1)

    asyncio.run(run())
    return scorer, restore, stats


def test_the_latest_record_of_a_key_decides_across_batches():
    records = _records(["a", "b", "c", "d"])
    forged = state_codec.seal("engine/c", b"AIOS\x02 not a record", None)
    scorer, restore, stats = _restore([
        {"engine/a": records["engine/a"], "engine/b": records["engine/b"], "engine/c": records["engine/c"]},
        {"engine/b": None, "engine/c": forged, "engine/d": records["engine/d"],
         ALERTING: state_codec.seal(ALERTING, b"alerting", None)},
    ])
    # b was deleted after it was restored, c's latest record cannot be read: both start fresh, as when read whole
    assert scorer.engine.series_ids() == ["a", "d"]
    assert stats.state_records_loaded == 4 and stats.state_records_rejected == 1
    assert restore.alerting_state == b"alerting"


def test_a_key_read_again_is_restored_from_its_latest_record():
    first, later = _records(["a"], points=5), _records(["a"], points=40)
    scorer, _, _ = _restore([first, later])
    whole = ScoreStage(Settings())
    whole.import_states({k: state_codec.unseal(k, v, None) for k, v in later.items()})
    assert scorer.engine.export_state(["a"]) == whole.engine.export_state(["a"])


def test_a_record_without_a_known_envelope_is_refused_with_its_reason():
    records = _records(["a"])
    with capture_logs() as logs:
        scorer, _, stats = _restore([{"engine/a": records["engine/a"], "engine/x": b"garbage"}])
    assert scorer.engine.series_ids() == ["a"] and stats.state_records_rejected == 1
    assert any(e["event"] == "state.rejected" and e["key"] == "engine/x" for e in logs)


def test_the_reader_hands_over_every_record_in_batches_in_order(broker):
    topic = f"state-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=1)
    for i in range(7):
        broker.produce(topic, [f"v{i}".encode()], key=f"k{i % 5}".encode())
    broker.produce(topic, [b""], key=b"k1")  # a deletion
    settings = Settings(kafka={"bootstrap_servers": broker.bootstrap}, topics={"state": topic})
    batches: list[tuple[dict[str, bytes | None], int]] = []
    rest = read_state(settings, [0], on_batch=lambda batch, left: batches.append((dict(batch), left)),
                      batch_records=3)
    assert rest == {} and batches
    merged: dict[str, bytes | None] = {}
    for batch, _ in batches:
        merged.update(batch)
    assert merged == {"k0": b"v5", "k1": None, "k2": b"v2", "k3": b"v3", "k4": b"v4"}
    assert batches[-1][1] == 0
    assert read_state(settings, [0]) == {"k0": b"v5", "k2": b"v2", "k3": b"v3", "k4": b"v4"}
