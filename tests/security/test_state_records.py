"""State records read from Kafka can never run code, and a bad one never stops a worker."""

from __future__ import annotations

import builtins
import collections
import pickle
import zlib

import cramjam
import msgpack
import numpy as np
import pytest

from aiops.alerting.config import AlertingConfig
from aiops.detectors.config import DetectionConfig
from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event
from aiops.detectors.core.state_codec import StateError, dumps, loads, seal, unseal
from aiops.detectors.engine import build_engine
from aiops.detectors.logs.templates import TemplateMiners, TemplateStateError
from aiops.detectors.logs.templates_config import MiningConfig
from aiops.pipeline.config import Settings
from aiops.pipeline.stages import ScoreStage


class _WritesAFile:
    """What an attacker produces to the state topic: unpickling it creates a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return builtins.open, (self.path, "w")


def hostile_records(path) -> dict[str, bytes]:
    """Every way today's and yesterday's readers could be handed the file-writing payload."""
    payload = pickle.dumps(_WritesAFile(str(path)))
    return {"raw pickle": payload, "zlib pickle": zlib.compress(payload),
            "pickle in our magic": state_codec.MAGIC + bytes([state_codec.ZLIB_FORMAT]) + zlib.compress(payload),
            "pickle in our magic, lz4": state_codec.MAGIC + bytes([state_codec.LZ4_FORMAT])
            + bytes(cramjam.lz4.compress_block(payload))}


def _ext(code: int, value) -> msgpack.ExtType:
    return msgpack.ExtType(code, msgpack.packb(value, use_bin_type=True))


def _table(header, blob: bytes) -> msgpack.ExtType:
    """An array table ext value: its header's length, the header (msgpack), the arrays' bytes."""
    packed = msgpack.packb(header, use_bin_type=True)
    return msgpack.ExtType(12, len(packed).to_bytes(4, "little") + packed + blob)


def _record(body) -> bytes:
    """A record of ``body`` as format version 1 wrote it (zlib), which is still read."""
    return state_codec.MAGIC + bytes([state_codec.ZLIB_FORMAT]) + zlib.compress(
        msgpack.packb(body, use_bin_type=True))


def _events(sid: str, n: int, start: int = 0) -> list[Event]:
    return [Event("metric", sid, {"host": "a"}, float(t), {"v": 10.0 + (t % 7) * 0.1, "w": float(t % 3)})
            for t in range(start, start + n)]


class TestHostileRecords:
    """A record that would run code when unpickled is refused everywhere state is read."""

    def test_engine_refuses_and_writes_nothing(self, tmp_path):
        target = tmp_path / "pwned"
        engine = build_engine(DetectionConfig(warmup=10))
        for blob in hostile_records(target).values():
            with pytest.raises(InputError):
                engine.import_state({"cpu|host=a": blob})
        assert not target.exists() and engine.series_ids() == []

    def test_score_stage_skips_counts_and_keeps_the_good_records(self, tmp_path):
        target = tmp_path / "pwned"
        source = ScoreStage(Settings())
        source.process(_events("cpu|host=a", 50), now=100.0)
        good = source.export_dirty()
        stage = ScoreStage(Settings())
        hostile = {f"{owner}/x{i}": blob for i, blob in enumerate(hostile_records(target).values())
                   for owner in ("engine", "logwin", "logintel")}
        applied = stage.import_states({**hostile, **good})
        assert not target.exists()
        assert applied == len(good) and stage.state_rejected == len(hostile) == 12
        assert stage.engine.series_ids() == ["cpu|host=a"]

    def test_templates_refuse(self, tmp_path):
        target = tmp_path / "pwned"
        for blob in hostile_records(target).values():
            with pytest.raises(TemplateStateError):
                TemplateMiners(MiningConfig()).miner("sshd").load_bytes(blob)
        assert not target.exists()

    def test_alerting_refuses_and_keeps_its_state(self, tmp_path):
        from aiops.pipeline.alerting_bridge import AlertingRuntime

        target = tmp_path / "pwned"
        runtime = AlertingRuntime(Settings(alerting=AlertingConfig()))
        for blob in hostile_records(target).values():
            with pytest.raises(InputError):
                runtime.import_state(blob)
        assert not target.exists()
        runtime.import_state(runtime.export_state())


class TestCodec:
    """The codec reads back what it wrote, and nothing outside its closed set of types."""

    def test_round_trip_of_every_container(self):
        value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.int64(7), "t": (1, "x"),
                 "s": {1, 2}, "f": frozenset({"z"}), "d": collections.deque([1, 2], maxlen=3),
                 "o": collections.OrderedDict(x=1), "c": collections.Counter(a=2),
                 "dd": collections.defaultdict(int, {"k": 1}), (1, 2): None, "n": float("nan"), "bytes": b"\x00"}
        back = loads(dumps(value))
        assert back["a"].dtype == np.float32 and back["a"].tolist() == value["a"].tolist() and back["a"].flags.writeable
        assert type(back["b"]) is np.int64 and back["t"] == (1, "x") and back["s"] == {1, 2}
        assert back["d"].maxlen == 3 and back["dd"]["new"] == 0 and back[(1, 2)] is None
        assert back["n"] != back["n"] and back["bytes"] == b"\x00" and type(back["o"]) is collections.OrderedDict

    @pytest.mark.parametrize("name", ["os:system", "builtins:eval", "subprocess:Popen", "posix:system",
                                      "aiops.detectors.logs:__builtins__", "aiops.detectors.logs.scoring:os",
                                      "drain3.drain:Drain.__init__", "x", None])
    def test_types_outside_the_allow_list(self, name):
        with pytest.raises(StateError):
            loads(_record(_ext(7, [name, {}])))

    def test_objects_are_rebuilt_without_running_their_code(self):
        from aiops.detectors.logs.scoring import Ewm

        probe = Ewm.__new__(Ewm)
        back = loads(dumps(probe))
        assert type(back) is Ewm

    @pytest.mark.parametrize("case", ["truncated", "version", "garbage", "object dtype", "big endian",
                                      "short array", "unknown ext", "deep", "bomb", "not bytes", "lz4 bomb",
                                      "lz4 truncated", "lz4 size lies", "table short", "table dtype",
                                      "table header lies", "table header garbage"])
    def test_malformed(self, case):
        good = dumps({"x": np.arange(3.0)})
        blob = {
            "truncated": good[:-4],
            "version": good[:4] + bytes([9]) + good[5:],
            "garbage": state_codec.MAGIC + b"\x01" + b"\x00" * 20,
            "object dtype": _record(_ext(1, ["|O", [1], b"\x00" * 8])),
            "big endian": _record(_ext(1, [">f8", [1], b"\x00" * 8])),
            "short array": _record(_ext(1, ["<f8", [4], b"\x00" * 8])),
            "unknown ext": _record(_ext(99, [])),
            "deep": _record(_nested(state_codec._MAX_DEPTH + 5)),
            "bomb": state_codec.MAGIC + b"\x01" + zlib.compress(b"\x00" * (state_codec.MAX_STATE_BYTES + 10)),
            "not bytes": "text",
            "lz4 bomb": state_codec.MAGIC + b"\x02" + (state_codec.MAX_STATE_BYTES + 10).to_bytes(4, "little")
            + bytes(cramjam.lz4.compress_block(b"\x00" * 64))[4:],
            "lz4 truncated": good[:-4],
            "lz4 size lies": good[:5] + (int.from_bytes(good[5:9], "little") + 8).to_bytes(4, "little") + good[9:],
            "table short": _record(_table([["a"], ["<f8"], [[4]]], b"\x00" * 8)),
            "table dtype": _record(_table([["a"], ["|O"], [[1]]], b"\x00" * 8)),
            "table header lies": _record(msgpack.ExtType(12, (500).to_bytes(4, "little") + b"\x93\x90\x90\x90")),
            "table header garbage": _record(msgpack.ExtType(12, (3).to_bytes(4, "little") + b"\xc1\xc1\xc1")),
        }[case]
        with pytest.raises(StateError):
            loads(blob)

    def test_nothing_without_a_safe_encoding_is_written(self):
        with pytest.raises(StateError):
            dumps({"f": len})
        with pytest.raises(StateError):
            dumps({"a": np.array([object()])})
        with pytest.raises(StateError):
            dumps(collections.defaultdict(lambda: 1))


def _nested(depth: int):
    value = None
    for _ in range(depth):
        value = _ext(3, [value])
    return value


class TestSignatures:
    """With a state key, only records this deployment signed, under their own key, are read."""

    def test_forged_moved_and_unsigned_records(self):
        record = dumps({"v": 1})
        signed = seal("engine/a", record, b"key")
        assert unseal("engine/a", signed, b"key") == record
        tampered = signed[:-1] + bytes([signed[-1] ^ 1])
        for key, data, secret in [("engine/a", tampered, b"key"), ("engine/b", signed, b"key"),
                                  ("engine/a", signed, b"other"), ("engine/a", seal("engine/a", record, None), b"key"),
                                  ("engine/a", signed, None), ("engine/a", record, None), ("engine/a", b"", None)]:
            with pytest.raises(StateError):
                unseal(key, data, secret)

    def test_unsigned_records_are_read_when_no_key_is_set(self):
        assert unseal("k", seal("k", b"abc", None), None) == b"abc"


class TestEveryBankCrossesTheCodec:
    """Each registered bank's state goes through the codec, and the restored engine scores as the original."""

    @pytest.mark.parametrize("spec", [{"type": "zscore"}, {"type": "cusum"}, {"type": "ewma"}, {"type": "mewma"},
                                      {"type": "mahalanobis"}, {"type": "hst"},
                                      {"type": "pyod", "params": {"window_size": 16, "min_points": 8,
                                                                  "refit_every": 8, "background": False}}])
    def test_restored_engine_continues(self, spec):
        config = DetectionConfig(warmup=10, detectors=[spec])
        first = build_engine(config)
        first.process(_events("s", 120))
        restored = build_engine(config)
        restored.import_state(first.export_state(["s"]))
        rest = _events("s", 40, 120)
        assert [s.score for s in restored.process(rest)] == [s.score for s in first.process(rest)]

    def test_river_relearns_instead_of_crossing(self):
        config = DetectionConfig(warmup=10, detectors=[{"type": "river", "params": {"model": "GaussianScorer"}}])
        first = build_engine(config)
        first.process(_events("s", 80))
        restored = build_engine(config)
        restored.import_state(first.export_state(["s"]))
        group = next(iter(restored._groups.values()))
        assert restored.series_ids() == ["s"] and not group.members[0].bank.warm(["s"])[0]


class TestMalformedRecordsNeverCrash:
    """Truncated, bit-flipped or type-confused engine records are refused with InputError; scoring goes on."""

    def test_mutations(self):
        import random

        config = DetectionConfig(warmup=10)
        source = build_engine(config)
        source.process(_events("s", 80))
        good = source.export_state(["s"])["s"]
        rng = random.Random(7)
        blobs = [good[:n] for n in range(0, len(good), max(1, len(good) // 40))]
        for _ in range(60):
            b = bytearray(good)
            b[rng.randrange(5, len(b))] ^= 1 << rng.randrange(8)
            blobs.append(bytes(b))
        state = loads(good)
        wrong = [1, "x", None, [], {}, -1.5, np.zeros(3), np.array([True]), np.int8(3), (1,), {"a": np.zeros((2, 2))}]
        for key in state:  # every field the record has, today's and any added later
            for value in wrong:
                blobs.append(dumps({**state, key: value}))
        for part in [k for k, v in state.items() if isinstance(v, dict) and k != "labels"]:  # slot, surprise ...
            for name in state[part]:
                for value in wrong:
                    blobs.append(dumps({**state, part: {**state[part], name: value}}))
        for j in range(len(state["banks"])):
            for value in wrong:
                banks = list(state["banks"])
                banks[j] = value
                blobs.append(dumps({**state, "banks": banks}))
        engine = build_engine(config)
        refused = 0
        for blob in blobs:
            try:
                engine.import_state({"s": blob})
            except InputError:
                refused += 1
            engine.process(_events("s", 2, 200))  # restored or fresh, the series still scores
            engine.forget(["s"])
        assert refused > len(blobs) // 2
