"""Restoring many series at once: the same state as one by one, refused records apart, old records still read."""

from __future__ import annotations

import zlib

import numpy as np

from aiops.detectors.config import DetectionConfig
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine

CONFIG = DetectionConfig(warmup=10)


def _events(n_series: int, steps: int, start: int = 0, seed: int = 1) -> list[Event]:
    rng = np.random.default_rng(seed)
    return [Event("metric", f"cpu|host=h{i}", {"host": f"h{i}", "dc": "x"}, float(t),
                  {"v": float(rng.normal()) + (9.0 if t == 350 and i == 1 else 0.0)})
            for t in range(start, start + steps) for i in range(n_series)]


def _scores(engine, events: list[Event]) -> list[tuple]:
    out = []
    for a in range(0, len(events), 40):
        out += [(s.series_id, s.time, s.score, s.is_anomaly, s.anomaly_score) for s in engine.process(events[a:a + 40])]
    return out


def _trained(steps: int = 300):
    engine = build_engine(CONFIG)
    _scores(engine, _events(6, steps))
    return engine


def _as_version_1(blob: bytes) -> bytes:
    """The record as version 1 wrote it: maps of arrays, tuples of names, zlib."""
    state = state_codec.loads(blob)
    state.update(v=1, slot=state["slot"].arrays(), surprise=state["surprise"].arrays(),
                 features=tuple(state["features"]),
                 banks=[{"features": tuple(b["features"]), "arrays": b["arrays"].arrays()} for b in state["banks"]])
    body = state_codec._lz4_body(state_codec.dumps(state))
    return state_codec.MAGIC + bytes([state_codec.ZLIB_FORMAT]) + zlib.compress(body)


class TestRestoreMany:
    def test_many_at_once_score_as_one_at_a_time(self):
        """Records restored together (in chunks smaller than the batch) continue exactly as each restored alone."""
        source = _trained()
        blobs = source.export_state(source.series_ids())
        together, alone = build_engine(CONFIG), build_engine(CONFIG)
        assert together.restore(blobs, chunk=4) == {}
        for sid, blob in blobs.items():
            alone.import_state({sid: blob})
        later = _events(6, 120, start=300)
        expected = _scores(source, later)
        assert _scores(together, later) == expected and _scores(alone, later) == expected
        assert together.export_state(["cpu|host=h1"]) == source.export_state(["cpu|host=h1"])

    def test_refused_records_are_named_and_the_others_load(self):
        """A record that cannot be read or does not fit is returned with why; its series stays fresh."""
        source = _trained(120)
        blobs = source.export_state(source.series_ids())
        state = state_codec.loads(blobs["cpu|host=h2"])
        state["keys"] = state["keys"][:1]  # fewer detector names than bank states
        blobs["cpu|host=h2"] = state_codec.dumps(state)
        blobs["cpu|host=h3"] = b"AIOS\x02garbage"
        engine = build_engine(CONFIG)
        refused = engine.restore(blobs)
        assert sorted(refused) == ["cpu|host=h2", "cpu|host=h3"]
        assert all(isinstance(e, InputError) and sid in str(e) for sid, e in refused.items())
        assert sorted(engine.series_ids()) == sorted(set(blobs) - set(refused))

    def test_version_1_records_load_as_they_did(self):
        """Records of version 1 (maps of arrays, zlib) give the same scores as the current ones."""
        source = _trained()
        blobs = source.export_state(source.series_ids())
        old, new = build_engine(CONFIG), build_engine(CONFIG)
        assert old.restore({sid: _as_version_1(b) for sid, b in blobs.items()}) == {}
        new.restore(blobs)
        later = _events(6, 60, start=300)
        assert _scores(old, later) == _scores(new, later)

    def test_a_known_series_is_replaced(self):
        """Restoring a series the engine holds replaces its state with the record's."""
        source = _trained(200)
        blob = source.export_state(["cpu|host=h0"])
        engine = _trained(50)
        engine.restore(blob)
        assert engine.export_state(["cpu|host=h0"]) == blob
