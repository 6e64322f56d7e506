"""Records of the events topic: columns round-trip every event, the array form is still read, bad records are refused."""

from __future__ import annotations

import json

import pytest

from aiops.detectors.core.shapes import Event
from aiops.pipeline.event_codec import decode_batch, encode_controls, encode_events, event_records


def mixed_events() -> list[Event]:
    return [
        Event("metric", "cpu|host=a", {"host": "a"}, 1.5, {"user": 12.5, "sys": -3.0}, ingest_time=2.0),
        Event("log", "log|host=b,service=api", {"host": "b", "service": "api"}, 1.25, {},
              message="disk /var full \u00e9 " + chr(0xD800), level="error", template_id="t7",
              template="disk <*> full", params=["/var"], ingest_time=2.0),
        Event("metric", "mem|host=a", {"host": "a"}, 10 ** 12 + 0.1, {"used": 1e300}, ingest_time=0.0),
    ]


class TestColumns:
    def test_every_field_round_trips(self):
        """Metric and log events, optional fields, a lone surrogate and extreme floats come back equal."""
        events = mixed_events()
        assert decode_batch(encode_events(events)) == (events, [])

    def test_optional_columns_only_when_used(self):
        """A record of metrics carries no message, level or template columns."""
        record = json.loads(encode_events(mixed_events()[::2]))
        assert set(record) == {"v", "source", "series_id", "labels", "time", "features", "ingest_time"}

    def test_array_form_and_controls_still_read(self):
        """Records of the earlier form (an array of event objects) and control items decode as before."""
        events = mixed_events()[::2]
        old = json.dumps([e.to_dict() for e in events]).encode()
        assert decode_batch(old) == (events, [])
        control = {"control": "feedback", "series_id": "cpu|host=a", "verdict": "false_positive"}
        assert decode_batch(encode_controls([control])) == ([], [control])

    @pytest.mark.parametrize("payload, reason", [
        (b'{"v":2,"source":[]}', "version 2"),
        (b'{"v":1,"source":["metric"],"series_id":["a"],"labels":[{}],"time":[1.0],"features":[{}]}',
         "differ in length or miss"),
        (b'{"v":1,"source":[],"series_id":[],"labels":[],"time":[],"features":[],"ingest_time":[],"x":[]}',
         "unknown columns: x"),
        (b'{"v":1,"source":["m"],"series_id":["a"],"labels":[{}],"time":[1.0],"features":[{}],'
         b'"ingest_time":[0.0],"message":[]}', "differ in length"),
        (b'"text"', "JSON object of columns or a JSON array"),
        (b'not json', "Expecting value"),
    ])
    def test_bad_records_are_refused_with_a_reason(self, payload, reason):
        """A foreign or damaged record raises ValueError naming what is wrong (the worker dead-letters it)."""
        with pytest.raises(ValueError, match=reason):
            decode_batch(payload)


class TestRecordBounds:
    def test_split_by_size_keeps_order_and_bound(self):
        """Records over max_bytes are split; every one is within it and the events keep their order."""
        events = [Event("log", f"log|host=h{i}", {"host": f"h{i}"}, float(i), {}, message="x" * (50 + i * 7))
                  for i in range(300)]
        limit = 8_000
        records = event_records(events, max_events=1000, max_bytes=limit)
        assert len(records) > 1
        assert all(len(r) <= limit for r in records)
        assert [e for r in records for e in decode_batch(r)[0]] == events

    def test_single_event_over_the_bound_is_a_record_of_its_own(self):
        """An event larger than max_bytes alone is one record (the worker dead-letters it as too large)."""
        big = Event("log", "log|host=a", {"host": "a"}, 1.0, {}, message="y" * 5_000)
        small = Event("metric", "m", {}, 2.0, {"v": 1.0})
        records = event_records([small, big, small], max_events=10, max_bytes=1_000)
        assert [len(decode_batch(r)[0]) for r in records] == [1, 1, 1]
        assert len(records[1]) > 1_000 and decode_batch(records[1])[0] == [big]
