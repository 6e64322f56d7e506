"""Normalised events and dead letters are bounded, whatever the input holds."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, series_id_for
from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.bounds import bounded, line_chars_always_within
from aiops.pipeline.normalise.deadletter import MAX_RECORD_BYTES, dead_letter_record, parse_dead_letter
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.normalise.line_protocol import parse_line

NOW = 1_700_000_000.0


class TestNormalisedEventsAreBounded:
    def test_long_label_value_is_cut_and_the_series_id_follows(self):
        """A 600 KB label value is cut with a marker; the series id is built from the cut labels."""
        payload = json.dumps({"name": "cpu", "tags": {"host": "h" * 600_000, "dc": "x"},
                              "fields": {"user": 1.0}, "timestamp": NOW}).encode()
        [event] = normalise("metrics", payload, now=NOW, guard=IngestGuard()).events
        assert event.labels["host"] == "h" * 1024 + "…[cut, 600000 chars]" and event.labels["dc"] == "x"
        assert event.series_id == series_id_for("cpu", event.labels)

    def test_long_log_message_is_cut(self):
        """A log message over ingest.max_message_chars keeps its head and says how long it was."""
        payload = json.dumps({"timestamp": NOW, "host": "a", "message": "m" * 100_000}).encode()
        guard = IngestGuard(IngestSettings(max_message_chars=100))
        [event] = normalise("logs", payload, now=NOW, guard=guard).events
        assert event.message == "m" * 100 + "…[cut, 100000 chars]"

    def test_event_too_large_once_cut_is_refused_with_the_reason(self):
        """Thousands of features make an event too large to carry: refused, and the good line beside it kept."""
        fields = ",".join(f"f{k}={k}" for k in range(5000))
        payload = f"big,host=a {fields}\ncpu,host=a user=1\n".encode()
        result = normalise("metrics", payload, now=NOW, guard=IngestGuard())
        assert [e.series_id for e in result.events] == ["cpu|host=a"]
        [reject] = result.rejects
        assert reject.reason.startswith("line 1: event of series 'big|host=a' is about")
        assert "over ingest.max_event_bytes 65536" in reject.reason


class TestDeadLettersAreBounded:
    def test_escaped_control_characters_drop_the_text_copy(self):
        """Control characters escape to six bytes in JSON: the text copy goes, the base64 copy stays."""
        original = b"\x01" * 200_000
        record = dead_letter_record(original, "r" * 10_000, topic="logs.raw", partition=0, offset=1,
                                    stage="normalise", now=NOW)
        assert len(record) <= MAX_RECORD_BYTES
        parsed = parse_dead_letter(record)
        assert "original_text" not in parsed and parsed["truncated"] is True
        assert original.startswith(parsed["original"]) and parsed["size"] == 200_000
        assert parsed["reason"].endswith("…[reason cut, 10000 chars]")


_NAMES = st.text(alphabet="abcxyz_0", min_size=1, max_size=6)
_VALUES = st.text(alphabet="abc-1.", min_size=1, max_size=30)


class TestShortLinesNeedNoBounds:
    """Line protocol lines no longer than ``line_chars_always_within`` skip ``bounded``: it would change nothing."""

    @settings(max_examples=300, deadline=None)
    @given(name=_NAMES, tags=st.dictionaries(_NAMES, _VALUES, max_size=40),
           fields=st.dictionaries(_NAMES, st.integers(0, 9), min_size=1, max_size=400),
           max_event_bytes=st.integers(1024, 8192), max_label_chars=st.integers(16, 64))
    def test_bounded_leaves_the_event_of_a_short_line_as_it_is(self, name, tags, fields, max_event_bytes,
                                                               max_label_chars):
        """Whatever tags and fields a short line has (one-character ones are the worst case), its event fits."""
        limits = IngestSettings(max_event_bytes=max_event_bytes, max_label_chars=max_label_chars)
        head = ",".join([name, *(f"{k}={v}" for k, v in tags.items())])
        line = f"{head} {','.join(f'{k}={v}' for k, v in fields.items())}"
        assume(len(line) <= line_chars_always_within(limits))
        name_, parsed_tags, parsed_fields, _ = parse_line(line)
        event = Event("metric", series_id_for(name_, parsed_tags), dict(parsed_tags), NOW, parsed_fields)
        before = (event.series_id, dict(event.labels), dict(event.features))
        assert bounded(event, limits) is event
        assert (event.series_id, event.labels, event.features) == before

    def test_the_bound_is_close_to_the_worst_line(self):
        """A line of one-character fields three times the bound's length is too large: the bound is not far off."""
        limits = IngestSettings(max_event_bytes=1024, max_label_chars=4096)
        chars = line_chars_always_within(limits)
        fields = ",".join(f"{chr(97 + k % 26)}{k // 26 or ''}=1" for k in range(chars))
        line = f"m {fields}"[: 3 * chars]
        line = line[: line.rfind(",")]
        name_, tags, parsed_fields, _ = parse_line(line)
        with pytest.raises(InputError, match="over ingest.max_event_bytes 1024"):
            bounded(Event("metric", name_, tags, NOW, parsed_fields), limits)

    def test_a_short_line_with_a_long_label_is_still_cut(self):
        """A label value over max_label_chars makes the line longer than the bound: it is cut as before."""
        guard = IngestGuard(IngestSettings(max_label_chars=16))
        [event] = normalise("metrics", f"cpu,host={'h' * 20} user=1".encode(), now=NOW, guard=guard).events
        assert event.labels["host"] == "h" * 16 + "…[cut, 20 chars]"
        assert event.series_id == series_id_for("cpu", event.labels)
