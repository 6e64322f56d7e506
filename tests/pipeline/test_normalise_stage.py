"""NormaliseStage alone: raw Kafka payloads to events on the partition of their series, the rest to dead letters."""

from __future__ import annotations

import json

from aiops.pipeline.config import parse_settings
from aiops.pipeline.normalise.timestamps import parse_time
from aiops.pipeline.stages import NormaliseStage, RawMessage
from aiops.pipeline.topics import partition_for

NOW = parse_time("2026-11-22T10:00:00Z")
NS = int(NOW) * 1_000_000_000


def stage(partitions: int = 4) -> NormaliseStage:
    return NormaliseStage(parse_settings({"kafka": {"partitions": partitions}}))


def message(value: bytes, offset: int = 0) -> RawMessage:
    return RawMessage("metrics.raw", 2, offset, value)


class TestValidRecords:
    def test_events_land_on_the_partition_of_their_series(self):
        """Each event goes to partition_for(series id), with the ingest time stamped; nothing is a dead letter."""
        payload = "\n".join(f"cpu,host=web-{i} usage_user={i}.5 {NS}" for i in range(12)).encode()
        out = stage().process("metrics", [message(payload)], now=NOW + 3)
        assert out.dead_letters == [] and out.event_count == 12
        seen = set()
        for partition, events in out.events_by_partition.items():
            for event in events:
                assert partition == partition_for(event.series_id, 4)
                assert event.ingest_time == NOW + 3 and event.time == NOW
                seen.add(event.series_id)
        assert seen == {f"cpu|host=web-{i}" for i in range(12)}
        assert len(out.events_by_partition) > 1  # twelve series spread over the partitions

    def test_a_point_sent_twice_is_skipped_the_second_time(self):
        s = stage()
        line = f"mem,host=a used=1 {NS}".encode()
        first = s.process("metrics", [message(line, 0)], now=NOW)
        again = s.process("metrics", [message(line, 1)], now=NOW)
        assert (first.event_count, first.skipped) == (1, 0)
        assert (again.event_count, again.skipped) == (0, 1)


class TestBadRecords:
    def test_a_bad_line_is_a_dead_letter_with_its_reason_and_coordinates(self):
        """The good lines of the payload still become events; the bad one a record saying where and why."""
        payload = f"cpu,host=a usage=1 {NS}\nthis is not a metric\ncpu,host=b usage=2 {NS}".encode()
        out = stage().process("metrics", [message(payload, offset=41)], now=NOW)
        assert out.event_count == 2
        [dead] = [json.loads(d) for d in out.dead_letters]
        assert (dead["topic"], dead["partition"], dead["offset"], dead["stage"]) == ("metrics.raw", 2, 41, "normalise")
        assert dead["reason"] and "not a metric" in dead["original_text"]

    def test_payloads_that_are_not_text_are_dead_letters(self):
        out = stage().process("metrics", [message(b"\xff\xfe\x00garbage", 5), message(b"{", 6)], now=NOW)
        assert out.event_count == 0
        assert [json.loads(d)["offset"] for d in out.dead_letters] == [5, 6]

    def test_an_unknown_kind_is_refused_not_raised(self):
        out = stage().process("traces", [message(b"x")], now=NOW)  # type: ignore[arg-type]
        [dead] = [json.loads(d) for d in out.dead_letters]
        assert "unknown payload kind" in dead["reason"]
