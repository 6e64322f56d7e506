"""Scores on a fixed seeded input stay exactly what the engine gave when these digests were recorded.

The fast paths of the engine (slot lookups, warm-up checks, calibration
counts, ring updates, building ``Score`` objects) must not move a single
bit: every score, raw value, calibrated value, contribution and expected
range of 1,200 events (two three-feature series, rings full, the streamed
tail fitted, spikes flagged, a missing value imputed) and of 2,000 events of
four one-feature series is digested and compared.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import pytest

from aiops.detectors.calibration import calibrate, sorted_view
from aiops.detectors.config import DetectionConfig
from aiops.detectors.core import state_codec
from aiops.detectors.core.shapes import Event, Score
from aiops.detectors.engine import build_engine
from aiops.detectors.ring_keys import from_keys, to_keys

# re-recorded when learn_delay (30) joined the default (points past a series' 512th are learned late), when the
# ewma chart joined the default detectors and flagged points started teaching their bystander features
# (partial_learning 0.5), and when scores gained anomaly_score and episodes: is_anomaly now spans an episode (the
# flagged point, then until close_after (3) points in a row are not flagged), an alert opens it once, and the
# one-feature false alarm at 91 no longer pages (its evidence is below episodes.open_surprise); and when mewma
# left the default detectors (the one-feature episode closes a point sooner: mewma's chart held the spike longer);
# and when the learn delay's waiting raw scores and tail levels became float32 (the rings they feed are float32:
# only the tail moments of late-learned points move, in their last bits; the three-feature series pass 512 points);
# and when the rings kept their scores as 16-bit keys (bfloat16: each within 0.4 %; ranks, tail levels and spreads
# move a little, no alert nor flagged point does)
DIGEST = "b4bebaf078feec9280da1b8872aaacda"
ONE_FEATURE_DIGEST = "c71802842e6da81a2fa422f812a65ddb"
ONE_FEATURE_ALERTED = [("golden1|s=2", 450.0)]
# the 8-sd spike at 450, then close_after (3) points not flagged end its episode
ONE_FEATURE_FLAGGED = [("golden1|s=2", 450.0), ("golden1|s=2", 451.0), ("golden1|s=2", 452.0)]
ALERTED = [("golden|s=0", 400.0), ("golden|s=0", 470.0)]
FLAGGED = [("golden|s=0", 400.0), ("golden|s=0", 401.0), ("golden|s=0", 402.0), ("golden|s=0", 470.0),
           ("golden|s=0", 471.0), ("golden|s=0", 472.0)]


def _one_feature_events() -> list[Event]:
    rng = np.random.default_rng(12)
    return [Event("metric", f"golden1|s={i}", {}, float(t), {"v": float(v) + (8.0 if t == 450 and i == 2 else 0.0)})
            for t in range(500) for i, v in enumerate(rng.normal(size=4).tolist())]


def _events() -> list[Event]:
    rng = np.random.default_rng(11)
    events = []
    for t in range(600):
        for i in range(2):
            v = rng.normal(size=3) + (9.0 if t in (400, 470) and i == 0 else 0.0)
            features = {"a": float(v[0]), "b": 0.5 * float(v[0]) + float(v[1]), "c": float(v[2])}
            if t % 37 == 0 and i == 1:
                features["b"] = float("nan")
            events.append(Event("metric", f"golden|s={i}", {"s": str(i)}, float(t), features))
    return events


def _digest(scores: list[Score]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for s in scores:
        values = [s.time, s.score, s.threshold, float(s.is_anomaly), float(s.learned), s.anomaly_score,
                  float(s.alert), float(s.episode)]
        for part in (s.detectors, s.raw, s.contributions):
            values += [v for _, v in sorted(part.items())]
        for _, (low, high) in sorted(s.expected.items()):
            values += [low, high]
        h.update(s.series_id.encode())
        h.update(struct.pack(f"<{len(values)}d", *values))
    return h.hexdigest()


def _run(events: list[Event] | None = None) -> list[Score]:
    engine = build_engine(DetectionConfig(warmup=10))
    events = _events() if events is None else events
    scores: list[Score] = []
    for start in range(0, len(events), 50):
        scores += engine.process(events[start:start + 50])
    return scores


def test_scores_match_recorded_digest() -> None:
    """Every number of every score is bit for bit the recorded one."""
    scores = _run()
    assert [(s.series_id, s.time) for s in scores if s.alert] == ALERTED
    assert [(s.series_id, s.time) for s in scores if s.is_anomaly] == FLAGGED
    assert _digest(scores) == DIGEST


def test_one_feature_scores_match_recorded_digest() -> None:
    """Series of one feature (their own fast path for contributions and ranges) keep their recorded scores."""
    scores = _run(_one_feature_events())
    assert [(s.series_id, s.time) for s in scores if s.alert] == ONE_FEATURE_ALERTED
    assert [(s.series_id, s.time) for s in scores if s.is_anomaly] == ONE_FEATURE_FLAGGED
    assert _digest(scores) == ONE_FEATURE_DIGEST


def test_digest_sees_a_one_ulp_change() -> None:
    """The digest is sensitive to the last bit of any score."""
    scores = _run()
    before = _digest(scores)
    scores[-1].score = float(np.nextafter(scores[-1].score, 2.0))
    assert _digest(scores) != before


def _feed(engine, events: list[Event]) -> list[Score]:
    scores: list[Score] = []
    for start in range(0, len(events), 50):
        scores += engine.process(events[start:start + 50])
    return scores


def test_restored_engine_scores_as_if_never_stopped() -> None:
    """A snapshot (FIFO ring as written since version 1, sorted again on import) continues bit for bit.

    Taken once while the rings still fill and once when they are full and
    have wrapped around, so both layouts of the ring are read back.
    """
    events = _one_feature_events()
    whole = _run(events)
    ids = sorted({e.series_id for e in events})
    for cut in (4 * 150, 4 * 400):
        first = build_engine(DetectionConfig(warmup=10))
        _feed(first, events[:cut])
        blobs = first.export_state(ids)
        state = state_codec.loads(blobs[ids[0]])
        zscore = state["keys"].index("zscore")
        slot = state["slot"].arrays()
        ring, seen = slot["ring"][zscore], slot["seen"][zscore]
        assert state["v"] == 2 and ring.shape == (256,) and 0 < seen and "ranked" not in slot
        assert cut == 4 * 150 and seen < 256 or seen > 256 and ring.tolist() != sorted(ring.tolist())
        restored = build_engine(DetectionConfig(warmup=10))
        restored.import_state(blobs)
        assert _digest(_feed(restored, events[cut:])) == _digest(whole[cut:])


def test_records_with_float_rings_restore_as_their_keys() -> None:
    """Records written before the rings held keys (float32 scores) are turned into keys on restore, every series
    of a batch, and score on exactly as the engine that wrote them."""
    events = _one_feature_events()
    whole = _run(events)
    ids = sorted({e.series_id for e in events})
    cut = 4 * 400
    first = build_engine(DetectionConfig(warmup=10))
    _feed(first, events[:cut])
    blobs = {}
    for sid, blob in first.export_state(ids).items():
        state = state_codec.loads(blob)
        slot = state["slot"].arrays()
        assert slot["ring"].dtype == np.uint16
        slot["ring"] = from_keys(slot["ring"])  # as such a record held them: float32, +inf in free slots
        state["slot"] = state_codec.ArrayTable(slot)
        blobs[sid] = state_codec.dumps(state)
    restored = build_engine(DetectionConfig(warmup=10))
    restored.import_state(blobs)
    assert _digest(_feed(restored, events[cut:])) == _digest(whole[cut:])


def test_snapshot_of_a_version_1_engine_is_sorted_on_import() -> None:
    """A version-1 snapshot (unsorted ring, no sorted copy) calibrates as the ring it carries says."""
    rng = np.random.default_rng(5)
    ring = rng.normal(size=256).astype(np.float32)
    engine = build_engine(DetectionConfig(warmup=10, detectors=[{"type": "zscore"}]))
    engine.process([Event("metric", "v1", {}, 0.0, {"v": 1.0})])
    state = state_codec.loads(engine.export_state(["v1"])["v1"])
    slot = state["slot"].arrays()
    slot.update(ring=ring[None], seen=np.array([300]), tail=np.zeros((1, 3)))
    # as version 1 wrote it: maps of arrays (no tables), features as tuples, the body compressed with zlib
    state.update(v=1, slot=slot, surprise=state["surprise"].arrays(), features=tuple(state["features"]),
                 banks=[{"features": tuple(b["features"]), "arrays": b["arrays"].arrays()} for b in state["banks"]])
    body = state_codec._lz4_body(state_codec.dumps(state))
    record = state_codec.MAGIC + bytes([state_codec.ZLIB_FORMAT]) + zlib.compress(body)
    restored = build_engine(DetectionConfig(warmup=10, detectors=[{"type": "zscore"}]))
    restored.import_state({"v1": record})
    group = next(iter(restored._groups.values()))
    slot = group.store.rows(["v1"])[0]
    arrays = group.store.arrays
    kept = from_keys(to_keys(ring))  # the ring's float32 scores, turned into keys on restore
    assert sorted_view(arrays["order"][slot], arrays["ring"][slot], arrays["seen"][slot])[0].tolist() == sorted(kept.tolist())
    bank_raw = restored.process([Event("metric", "v1", {}, 1.0, {"v": 1.0})])[0]
    raw = bank_raw.raw["zscore"]
    expected = calibrate(kept[None], np.array([300]), np.array([raw]), min_history=20,
                         tail_k=16, tail=np.zeros((1, 3)))[0]
    assert bank_raw.detectors["zscore"] == pytest.approx(expected, rel=1e-12)
