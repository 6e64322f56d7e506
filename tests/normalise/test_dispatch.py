"""normalise(): format detection, events built right, one reject per bad item, the guard applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.dispatch import NormaliseResult, normalise
from aiops.pipeline.normalise.guard import IngestGuard
from aiops.pipeline.normalise.timestamps import parse_time

NOW = parse_time("2025-11-22T10:00:00Z")
NS = int(NOW) * 1_000_000_000
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "loghub"


def run(kind: str, payload: bytes, guard: IngestGuard | None = None, now: float = NOW) -> NormaliseResult:
    return normalise(kind, payload, now=now, guard=guard or IngestGuard())  # type: ignore[arg-type]


class TestLineProtocolPayloads:
    def test_telegraf_batch(self) -> None:
        payload = (
            f"cpu,cpu=cpu0,host=web-1 usage_user=1.5,usage_idle=98i {NS}\n"
            f"mem,host=web-1 used_percent=41.2 {NS}\n"
            f"# a comment\n\n"
            f"disk,host=web-1,path=/ free=1024u,fstype=\"ext4\" {NS}\n"
        ).encode()
        r = run("metrics", payload)
        assert r.rejects == [] and r.skipped == 0
        assert [e.series_id for e in r.events] == [
            "cpu|cpu=cpu0,host=web-1", "mem|host=web-1", "disk|host=web-1,path=/"]
        cpu = r.events[0]
        assert (cpu.source, cpu.time, cpu.features, cpu.ingest_time) == (
            "metric", NOW, {"usage_user": 1.5, "usage_idle": 98.0}, NOW)
        assert cpu.labels == {"cpu": "cpu0", "host": "web-1"}

    def test_missing_timestamp_is_now_and_crlf(self) -> None:
        r = run("metrics", b"up,host=a v=1\r\nup,host=b v=1\r\n")
        assert [e.time for e in r.events] == [NOW, NOW]

    def test_bad_line_among_good_ones(self) -> None:
        payload = f"a v=1 {NS}\nb v=2 {NS}\nc load=abc {NS}\nd v=4 {NS}\n".encode()
        r = run("metrics", payload)
        assert [e.series_id for e in r.events] == ["a", "b", "d"]
        assert [(x.reason, x.fragment) for x in r.rejects] == [
            ("line 3: field value 'abc' is not a number", f"c load=abc {NS}".encode())]

    def test_bad_utf8_line_rejected_alone(self) -> None:
        r = run("metrics", b"a v=1\nb\xff v=1\n")
        assert len(r.events) == 1
        assert r.rejects[0].reason == "line 2: not UTF-8 text (invalid start byte at byte 1)"
        assert r.rejects[0].fragment == b"b\xff v=1"


class TestJsonMetricPayloads:
    def test_telegraf_batch_object(self) -> None:
        payload = json.dumps({"metrics": [
            {"name": "cpu", "tags": {"host": "a"}, "fields": {"u": 1}, "timestamp": int(NOW)},
            {"name": "mem", "tags": {"host": "a"}, "fields": {"used": 2.5}, "timestamp": int(NOW) * 1000},
        ]}).encode()
        r = run("metrics", payload)
        assert [(e.series_id, e.time, e.features) for e in r.events] == [
            ("cpu|host=a", NOW, {"u": 1.0}), ("mem|host=a", NOW, {"used": 2.5})]

    def test_array_of_simple_records_with_iso_times(self) -> None:
        payload = json.dumps([
            {"metric": "cpu.user", "value": 1.2, "host": "web-1", "ts": "2025-11-22T10:00:00Z"},
            {"name": "cpu.user", "value": 1.3, "host": "web-1", "time": "2025-11-22T11:00:00+01:00"},
            {"name": "cpu.user", "value": 1.4, "host": "web-1", "timestamp": "2025-11-22 09:59:00"},
        ]).encode()
        r = run("metrics", payload)
        assert [e.time for e in r.events] == [NOW, NOW, NOW - 60]
        assert {e.series_id for e in r.events} == {"cpu.user|host=web-1"}

    def test_naive_time_in_configured_zone(self) -> None:
        guard = IngestGuard(IngestSettings(default_timezone="Asia/Tokyo"))
        r = run("metrics", b'{"metric": "m", "value": 1, "ts": "2025-11-22T19:00:00"}', guard)
        assert r.events[0].time == NOW

    def test_ndjson(self) -> None:
        r = run("metrics", b'{"metric": "a", "value": 1}\n{"metric": "b", "value": 2}\n')
        assert [e.series_id for e in r.events] == ["a", "b"]

    def test_ndjson_with_a_broken_line(self) -> None:
        r = run("metrics", b'{"metric": "a", "value": 1}\n{"metric": "b", "val\n{"metric": "c", "value": 3}')
        assert [e.series_id for e in r.events] == ["a", "c"]
        assert r.rejects[0].reason == "line 2: not JSON: Unterminated string starting at (column 17)"
        assert r.rejects[0].fragment == b'{"metric": "b", "val'

    def test_bad_items_one_reject_each(self) -> None:
        payload = json.dumps([{"metric": "a", "value": 1}, {"metric": "b"}, 7, {"metric": "c", "value": 3}]).encode()
        r = run("metrics", payload)
        assert [e.series_id for e in r.events] == ["a", "c"]
        assert [x.reason for x in r.rejects] == [
            "item 2: metric 'b' has no numeric field", "item 3: expected a JSON object, got a number"]
        assert json.loads(r.rejects[0].fragment) == {"metric": "b"}

    def test_missing_timestamp_is_now(self) -> None:
        assert run("metrics", b'{"metric": "a", "value": 1}').events[0].time == NOW

    def test_series_id_does_not_depend_on_tag_order(self) -> None:
        r = run("metrics", b'[{"name": "m", "tags": {"b": "1", "a": "2"}, "fields": {"v": 1}},'
                           b' {"name": "m", "tags": {"a": "2", "b": "1"}, "fields": {"v": 2}},'
                           b' {"name": "m", "tags": {"a": "1", "b": "2"}, "fields": {"v": 3}}]')
        assert [e.series_id for e in r.events] == ["m|a=2,b=1", "m|a=2,b=1", "m|a=1,b=2"]
        lines = run("metrics", b"m,b=1,a=2 v=1\nm,a=2,b=1 v=2\nm,a=1,b=2 v=3")
        assert [e.series_id for e in lines.events] == ["m|a=2,b=1", "m|a=2,b=1", "m|a=1,b=2"]

    def test_events_do_not_share_label_dicts(self) -> None:
        r = run("metrics", b"m,host=a v=1\nm,host=a v=2")
        r.events[0].labels["host"] = "changed"
        assert r.events[1].labels == {"host": "a"}
        assert run("metrics", b"m,host=a v=3").events[0].labels == {"host": "a"}


class TestLogPayloads:
    def test_vector_ndjson(self) -> None:
        payload = (
            b'{"host":"web-1","message":"GET / 200","service":"nginx","level":"info","timestamp":"2025-11-22T10:00:00Z"}\n'
            b'{"host":"web-1","message":"upstream timed out","service":"nginx","level":"ERR","timestamp":"2025-11-22T10:00:01Z"}\n'
        )
        r = run("logs", payload)
        assert [(e.series_id, e.level, e.message, e.time) for e in r.events] == [
            ("log|host=web-1,service=nginx", "info", "GET / 200", NOW),
            ("log|host=web-1,service=nginx", "error", "upstream timed out", NOW + 1),
        ]
        e = r.events[0]
        assert (e.source, e.features, e.labels, e.ingest_time) == (
            "log", {}, {"host": "web-1", "service": "nginx"}, NOW)

    def test_json_array_and_empty_labels_omitted(self) -> None:
        r = run("logs", b'[{"msg": "a"}, {"msg": "b", "hostname": "h"}]')
        assert [e.series_id for e in r.events] == ["log", "log|host=h"]
        assert r.events[0].labels == {}

    def test_syslog_batch_mixed_with_json(self) -> None:
        payload = (
            b"<38>Nov 22 09:59:00 web-1 sshd[1]: Accepted publickey\n"
            b'{"message": "from json", "host": "web-2"}\n'
            b"<35>1 2025-11-22T09:59:30Z web-3 sudo - - - auth failure\n"
        )
        r = run("logs", payload)
        assert [(e.series_id, e.level) for e in r.events] == [
            ("log|host=web-1,service=sshd", "info"), ("log|host=web-2", "info"),
            ("log|host=web-3,service=sudo", "error")]

    def test_invalid_utf8_log_line_kept_with_replacement(self) -> None:
        r = run("logs", b"<14>Nov 22 09:59:00 h app: caf\xe9\n")
        assert r.events[0].message == "caf\ufffd"

    def test_garbage_line_among_syslog(self) -> None:
        r = run("logs", b"<14>Nov 22 09:59:00 h app: ok\n   at java.lang.Thread.run\n")
        assert len(r.events) == 1
        assert r.rejects[0].reason == "line 2: not syslog (RFC 5424 or 3164): 'at java.lang.Thread.run'"

    @pytest.mark.parametrize("system", ["Linux", "OpenSSH"])
    def test_loghub_file_as_one_payload(self, system: str) -> None:
        raw = (DATA / system / f"{system}_2k.log").read_bytes()
        guard = IngestGuard(IngestSettings(max_past_s=400 * 86400.0))
        r = run("logs", raw, guard, now=parse_time("2026-01-31T00:00:00Z"))
        assert r.rejects == []
        # identical lines in one second from different processes (or repeated) are all kept
        assert (len(r.events), r.skipped) == (2000, 0)
        assert all(e.labels.get("host") in {"combo", "LabSZ"} for e in r.events)
        replay = run("logs", raw, guard, now=parse_time("2026-01-31T00:00:00Z"))
        assert (replay.events, replay.rejects, replay.skipped) == ([], [], 2000)

    def test_same_line_from_another_process_in_a_later_payload_is_kept(self) -> None:
        guard = IngestGuard()
        first = run("logs", b"<38>Nov 22 09:59:00 h sshd[1]: Failed password for root", guard)
        other = run("logs", b"<38>Nov 22 09:59:00 h sshd[2]: Failed password for root", guard)
        copy = run("logs", b"<38>Nov 22 09:59:00 h sshd[2]: Failed password for root", guard)
        assert (len(first.events), len(other.events), copy.skipped) == (1, 1, 1)


class TestWholePayloadRejects:
    """A payload with nothing good gives one reject holding the whole payload."""

    @pytest.mark.parametrize(
        ("kind", "payload", "reason"),
        [
            ("metrics", b"hello", "not JSON, not line protocol: line 1: measurement 'hello' has no fields"),
            ("metrics", b"{broken json", "not JSON, not line protocol: line 1: not JSON: Expecting property name"
                                               " enclosed in double quotes (column 2)"),
            ("metrics", b"a v=x\nb v=y", "not JSON, not line protocol: line 1: field value 'x' is not a number"
                                         " (and 1 more bad items)"),
            ("metrics", b'{"metric": "a"}', "metric 'a' has no numeric field"),
            ("metrics", b"[1, 2]", "item 1: expected a JSON object, got a number (and 1 more bad items)"),
            ("metrics", b"\xff\xfe\x00", "not JSON, not line protocol: line 1: not UTF-8 text"),
            ("logs", b"just words", "not JSON, not syslog: line 1: not syslog (RFC 5424 or 3164)"),
            ("logs", b'{"level": "info"}', "no message field (message, msg, log, @message)"),
            ("metrics", f"a v=1 {NS - 30 * 86400 * 10**9}".encode(), "line 1: event time 2025-10-23T10:00:00.000Z"
                                                                    " is older than now - 604800s"),
            ("metrics", b'{"metric": "a", "value": NaN}', "feature 'value' is NaN"),
            ("metrics", b'{"metric": "a", "value": 1, "ts": "soon"}', "timestamp 'soon' is not epoch"),
            ("shoes", b"a v=1", "unknown payload kind 'shoes'"),
        ],
    )
    def test_reason(self, kind: str, payload: bytes, reason: str) -> None:
        r = run(kind, payload)
        assert r.events == []
        assert len(r.rejects) == 1
        assert r.rejects[0].fragment == payload
        assert r.rejects[0].reason.startswith(reason), r.rejects[0].reason

    def test_series_cap_reason(self) -> None:
        guard = IngestGuard(IngestSettings(max_series=1))
        run("metrics", b"a v=1", guard)
        r = run("metrics", b"b v=1", guard)
        assert r.rejects[0].reason == "line 1: series cap 1 reached: series 'b' refused"
        assert guard.refused_series == 1

    @pytest.mark.parametrize("payload", [b"", b"   \n\n", b"# only a comment\n", b"\xef\xbb\xbf \n"])
    def test_empty_payload_is_skipped(self, payload: bytes) -> None:
        r = run("metrics", payload)
        assert (r.events, r.rejects, r.skipped) == ([], [], 1)


class TestGuardInside:
    def test_replayed_message_gives_only_skips(self) -> None:
        guard = IngestGuard()
        payload = f"a v=1 {NS}\nb v=2 {NS}".encode()
        assert len(run("metrics", payload, guard).events) == 2
        again = run("metrics", payload, guard)
        assert (again.events, again.rejects, again.skipped) == ([], [], 2)

    def test_counters_follow_every_outcome(self) -> None:
        guard = IngestGuard()
        run("metrics", f"a v=1 {NS}\na v=1 {NS}\nb v=x\nc v=1 1\n".encode(), guard)
        stats = guard.stats()
        assert (stats["accepted"], stats["duplicates"], stats["rejected_parse"], stats["rejected_too_old"]) == (
            1, 1, 1, 1)
