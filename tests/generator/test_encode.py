"""Encoders: any names and values survive the trip through the product's parsers (property tests)."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.pipeline.normalise.line_protocol import parse_line
from aiops.pipeline.normalise.syslog import parse_syslog
from aiops.pipeline.tools.generator.encode import line_protocol, rfc3164, rfc5424, vector_record

names = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="\\#"), min_size=1,
                max_size=12).filter(lambda s: not s.startswith("_"))
tag_values = st.text(st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="\\"), min_size=1,
                     max_size=12).filter(lambda s: s.strip() == s and s)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
times = st.floats(min_value=1_000_000_000.0, max_value=4_000_000_000.0)
words = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60).filter(
    lambda s: s.strip() == s)


class TestLineProtocol:
    @settings(max_examples=60, deadline=None)
    @given(measurement=names, tags=st.dictionaries(names, tag_values, max_size=3),
           fields=st.dictionaries(names, floats, min_size=1, max_size=4), time_s=times)
    def test_round_trip(self, measurement, tags, fields, time_s):
        """Escaped spaces, commas and equals signs come back as they went in."""
        name, parsed_tags, parsed_fields, stamp = parse_line(line_protocol(measurement, tags, fields, time_s))
        assert (name, parsed_tags) == (measurement, tags)
        assert parsed_fields == fields
        assert stamp == round(time_s * 1e9)


class TestLogs:
    @settings(max_examples=40, deadline=None)
    @given(time_s=times, host=names, service=names, message=words)
    def test_vector_record_is_one_json_line(self, time_s, host, service, message):
        line = vector_record(time_s, host, service, "warn", message)
        assert "\n" not in line
        item = json.loads(line)
        assert (item["host"], item["service"], item["level"], item["message"]) == (host, service, "warn", message)

    @settings(max_examples=40, deadline=None)
    @given(time_s=times, message=words, severity=st.integers(0, 7), facility=st.sampled_from([1, 3, 4, 9, 10]))
    def test_syslog_lines_parse_back(self, time_s, message, severity, facility):
        """RFC 5424 keeps the microseconds; RFC 3164 keeps the second."""
        for encode, tolerance in ((rfc5424, 1e-5), (rfc3164, 1.0)):
            line = encode(time_s, "node-1", "sshd", 812, message, facility=facility, severity=severity)
            record = parse_syslog(line, now=time_s)
            assert (record.host, record.service, record.message) == ("node-1", "sshd", message)
            assert 0 <= time_s - record.time < tolerance or math.isclose(record.time, time_s, abs_tol=tolerance)
