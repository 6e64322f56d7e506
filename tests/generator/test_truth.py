"""Ground-truth files: round trip, clear errors, and truth cut where traffic stopped."""

from __future__ import annotations

import itertools

import pytest

from aiops.detectors.core.errors import InputError
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.produce import TrafficGenerator
from aiops.pipeline.tools.generator.truth import KEYS, append_truth, read_truth, write_truth

START = 1_700_000_000.0


def _live(config: GeneratorConfig, ticks: int) -> tuple[TrafficGenerator, float]:
    gen = TrafficGenerator(config)
    last = START
    for last, _ in itertools.islice(gen.live(START), ticks):  # noqa: B007 (the last tick is the result)
        pass
    return gen, last


class TestFiles:
    def test_round_trip(self, tmp_path):
        """Generated truth written and read back is the same, with every documented key."""
        gen, _ = _live(GeneratorConfig(hosts=1, anomaly_rate=30.0, warmup_s=0.0, seed=4), 120)
        path = tmp_path / "truth.jsonl"
        write_truth(path, gen.truth[:3])
        append_truth(path, gen.truth[3:])
        back = read_truth(path)
        assert back == gen.truth and len(back) > 3
        assert all(set(r) == set(KEYS) for r in back)

    def test_bad_line_names_its_number(self, tmp_path):
        path = tmp_path / "truth.jsonl"
        path.write_text('{"id": "1", "kind": "spike"}\n')
        with pytest.raises(InputError, match="line 1: missing keys"):
            read_truth(path)
        path.write_text("\nnot json\n")
        with pytest.raises(InputError, match="line 2: not JSON"):
            read_truth(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(InputError, match="cannot read truth file"):
            read_truth(tmp_path / "nope.jsonl")


class TestFinish:
    def test_running_incidents_are_cut_and_recounted(self):
        """Stopping mid-incident ends the truth at the last tick and recounts the lines actually sent."""
        config = GeneratorConfig(hosts=2, anomaly_rate=30.0, warmup_s=0.0, seed=9,
                                 kinds=["level_shift", "brute_force", "log_error_burst"])
        gen, last = _live(config, 40)
        running = [r["id"] for r in gen.truth if r["end"] > last]
        assert running
        sent_lines = {inj.id: inj._next for inj in gen.active if hasattr(inj, "planned")}
        gen.finish(last)
        for r in gen.truth:
            assert r["end"] <= last
            if r["id"] in running:
                assert r["params"]["truncated"] is True
                if r["kind"] == "log_error_burst":
                    assert r["params"]["lines"] == sent_lines[r["id"]]
                if r["kind"] == "brute_force":
                    assert r["params"]["attempts"] == sent_lines[r["id"]]
        assert gen.counts.anomalies == len(gen.truth)
