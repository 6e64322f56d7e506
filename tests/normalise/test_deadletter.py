"""Dead-letter records round-trip the original bytes and say where they came from."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.pipeline.normalise.deadletter import BadDeadLetter, dead_letter_record, parse_dead_letter


def record(original: bytes, **kw: object) -> bytes:
    args = {"topic": "logs.raw", "partition": 3, "offset": 1234, "stage": "normalise", "now": 1_700_000_000.5}
    args.update(kw)
    return dead_letter_record(original, "line 1: bad", **args)  # type: ignore[arg-type]


class TestRecord:
    def test_text_payload_readable(self) -> None:
        data = json.loads(record("héllo\n".encode()))
        assert data["original_text"] == "héllo\n"
        assert data["reason"] == "line 1: bad"
        assert (data["topic"], data["partition"], data["offset"], data["stage"]) == ("logs.raw", 3, 1234, "normalise")
        assert data["time"] == 1_700_000_000.5 and data["time_iso"] == "2023-11-14T22:13:20.500Z"
        assert data["size"] == 7

    def test_binary_payload_has_no_text(self) -> None:
        data = parse_dead_letter(record(b"\xff\x00\xfe"))
        assert "original_text" not in data
        assert data["original"] == b"\xff\x00\xfe"

    def test_unknown_partition_and_offset(self) -> None:
        data = parse_dead_letter(record(b"x", partition=None, offset=None))
        assert data["partition"] is None and data["offset"] is None

    @settings(max_examples=200, deadline=None)
    @given(original=st.binary(max_size=512), reason=st.text(max_size=80))
    def test_round_trip(self, original: bytes, reason: str) -> None:
        raw = dead_letter_record(original, reason, topic="t", partition=0, offset=7, stage="s", now=1.0)
        parsed = parse_dead_letter(raw)
        assert parsed["original"] == original
        assert parsed["reason"] == reason


class TestParseRejects:
    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"not json", "dead letter is not JSON"),
            (b"[1]", "dead letter must be a JSON object"),
            (b'{"reason": "x"}', "dead letter field 'original_b64' is missing"),
            (json.dumps({"original_b64": "!!", "reason": "r", "topic": "t", "stage": "s", "time": 1}).encode(),
             "dead letter 'original_b64' is not base64"),
        ],
    )
    def test_reason(self, data: bytes, reason: str) -> None:
        with pytest.raises(BadDeadLetter, match=reason):
            parse_dead_letter(data)
