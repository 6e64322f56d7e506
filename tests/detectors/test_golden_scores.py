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

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.engine import build_engine
from aiops.pipeline.shapes import Event, Score

DIGEST = "8d55cff89c06eccd38d88bd8c08f9e7d"
ONE_FEATURE_DIGEST = "fb2ba99d2e1a43d100d3cc0bdf830829"
ONE_FEATURE_FLAGGED = [("golden1|s=0", 91.0), ("golden1|s=2", 450.0)]
FLAGGED = [("golden|s=0", 400.0), ("golden|s=0", 470.0)]


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
        values = [s.time, s.score, s.threshold, float(s.is_anomaly), float(s.learned)]
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
    assert [(s.series_id, s.time) for s in scores if s.is_anomaly] == FLAGGED
    assert _digest(scores) == DIGEST


def test_one_feature_scores_match_recorded_digest() -> None:
    """Series of one feature (their own fast path for contributions and ranges) keep their recorded scores."""
    scores = _run(_one_feature_events())
    assert [(s.series_id, s.time) for s in scores if s.is_anomaly] == ONE_FEATURE_FLAGGED
    assert _digest(scores) == ONE_FEATURE_DIGEST


def test_digest_sees_a_one_ulp_change() -> None:
    """The digest is sensitive to the last bit of any score."""
    scores = _run()
    before = _digest(scores)
    scores[-1].score = float(np.nextafter(scores[-1].score, 2.0))
    assert _digest(scores) != before
