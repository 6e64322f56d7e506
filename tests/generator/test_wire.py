"""Every message the generator produces is valid in the format it claims, and batched as configured."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.produce import TrafficGenerator

START = 1_700_000_000.0


def _all_messages(config: GeneratorConfig, history_s: float = 60.0, live_ticks: int = 90):
    gen = TrafficGenerator(config)
    messages = list(gen.history(START - history_s, START))
    for _, batch in itertools.islice(gen.live(START), live_ticks):
        messages += batch
    return gen, messages


MIXED = GeneratorConfig(seed=11, hosts=3, metric_format="mixed", log_format="mixed", syslog_format="mixed",
                        anomaly_rate=20.0, warmup_s=5.0, period_s=600.0, max_lines_per_message=50)


@pytest.fixture(scope="module")
def mixed():
    gen, messages = _all_messages(MIXED)
    return gen, messages


@pytest.fixture(scope="module")
def mixed_parsed(mixed, wire):
    return [(topic, key, *wire(topic, value)) for topic, key, value in mixed[1]]


class TestFormats:
    def test_every_message_parses_strictly(self, mixed, mixed_parsed):
        """Line protocol, Telegraf JSON, Vector JSON, RFC 5424 and RFC 3164 all appear and all parse."""
        gen, messages = mixed
        formats = Counter()
        for topic, key, fmt, records in mixed_parsed:
            formats[(topic, fmt)] += 1
            assert 1 <= len(records) <= 50
            assert {r.get("host", r.get("tags", {}).get("host")) for r in records} == {key.decode()}
        assert set(formats) == {("metrics.raw", "influx"), ("metrics.raw", "json"), ("logs.raw", "json"),
                                ("logs.raw", "rfc5424"), ("logs.raw", "rfc3164")}
        assert gen.truth, "the live part should have injected incidents at this rate"

    def test_counts_match_what_was_sent(self, mixed, mixed_parsed):
        """The generator's counts equal the points, lines and messages actually encoded."""
        gen, messages = mixed
        points = lines = 0
        for topic, _, _, records in mixed_parsed:
            if topic == "metrics.raw":
                points += len(records)
            else:
                lines += len(records)
        assert (gen.counts.points, gen.counts.log_lines, gen.counts.messages) == (points, lines, len(messages))
        assert gen.counts.points == 3 * 3 * (60 + 90)

    def test_metric_points_carry_the_series_labels_and_features(self, wire):
        """One point per series per tick, with the four features and the tick's timestamp."""
        _, messages = _all_messages(GeneratorConfig(seed=2, hosts=2, services=["api", "worker"]), 10, 5)
        seen = Counter()
        for topic, _, value in messages:
            if topic != "metrics.raw":
                continue
            for p in wire(topic, value)[1]:
                assert p["name"] == "service"
                assert set(p["fields"]) == {"cpu", "memory", "latency_ms", "error_rate"}
                assert 0 <= p["fields"]["cpu"] <= 100 and 0 <= p["fields"]["error_rate"] <= 1
                assert (p["time"] - START) % 1.0 == 0
                seen[series_id_for("service", p["tags"])] += 1
        assert seen == {f"service|host=node-{h},service={s}": 15 for h in (1, 2) for s in ("api", "worker")}

    def test_live_log_times_are_not_after_their_tick(self, wire):
        """A live tick carries only lines whose event time is at or before the tick's due time."""
        gen = TrafficGenerator(MIXED)
        for due, batch in itertools.islice(gen.live(START), 30):
            for topic, _, value in batch:
                if topic == "logs.raw":
                    assert all(r["time"] <= due for r in wire(topic, value)[1])

    def test_history_batches_fill_messages(self, wire):
        """History packs up to max_lines_per_message records into one message."""
        gen = TrafficGenerator(GeneratorConfig(seed=1, max_lines_per_message=200, metric_format="influx"))
        sizes = [len(wire(t, v)[1]) for t, _, v in gen.history(START - 200, START) if t == "metrics.raw"]
        assert max(sizes) == 200 and sum(sizes) == 4 * 3 * 200


class TestProductNormaliser:
    def test_generated_traffic_normalises_without_rejects(self, mixed):
        """The pipeline's own normaliser accepts every message and finds the series the truth names."""
        gen, messages = mixed
        guard = IngestGuard()
        series = set()
        for topic, _, value in messages:
            result = normalise("metrics" if topic == "metrics.raw" else "logs", value, now=START + 100, guard=guard)
            assert result.rejects == [], result.rejects[:1]
            series.update(e.series_id for e in result.events)
            for e in result.events:
                assert START - 61 <= e.time <= START + 90, (topic, e.time)
                if e.source == "metric":
                    assert e.time == int(e.time) and set(e.features) == {"cpu", "memory", "latency_ms",
                                                                         "error_rate"}
        for record in gen.truth:
            assert record["series_id"] in series
