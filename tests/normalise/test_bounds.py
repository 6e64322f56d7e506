"""Normalised events and dead letters are bounded, whatever the input holds."""

from __future__ import annotations

import json

from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.deadletter import MAX_RECORD_BYTES, dead_letter_record, parse_dead_letter
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard

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
