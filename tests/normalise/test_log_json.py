"""JSON log records as shippers send them: field names, nesting, levels."""

from __future__ import annotations

import pytest

from aiops.pipeline.normalise.log_json import BadLogRecord, log_record


class TestShippers:
    """Real record shapes of Vector, Fluent Bit, Filebeat and app loggers."""

    def test_vector_file_source(self) -> None:
        record = {"file": "/var/log/app.log", "host": "web-1", "message": "GET /health 200",
                  "source_type": "file", "timestamp": "2026-11-22T10:00:00.123456789Z"}
        r = log_record(record)
        assert (r.host, r.service, r.level, r.message) == ("web-1", "", "info", "GET /health 200")
        assert r.time == "2026-11-22T10:00:00.123456789Z"

    def test_fluent_bit_kubernetes(self) -> None:
        record = {"date": 1763805600.25, "log": "E1122 10:00:00 failed to sync\n", "stream": "stderr",
                  "kubernetes": {"pod_name": "api-7d9", "namespace_name": "prod", "host": "node-3",
                                 "container_name": "api"}}
        r = log_record(record)
        assert (r.host, r.service, r.time) == ("node-3", "api", 1763805600.25)
        assert r.message.startswith("E1122")

    def test_filebeat_ecs(self) -> None:
        record = {"@timestamp": "2026-11-22T10:00:00.000Z", "message": "connection reset",
                  "host": {"name": "db-1", "hostname": "db-1.local"}, "log": {"level": "warn",
                  "file": {"path": "/var/log/pg.log"}}, "service": {"name": "postgres"}}
        r = log_record(record)
        assert (r.host, r.service, r.level, r.message) == ("db-1", "postgres", "warning", "connection reset")

    def test_flat_dotted_keys(self) -> None:
        record = {"@timestamp": "2026-11-22T10:00:00Z", "@message": "x", "host.name": "h",
                  "service.name": "s", "log.level": "ERROR"}
        r = log_record(record)
        assert (r.host, r.service, r.level, r.message) == ("h", "s", "error", "x")

    def test_pino_numbers_and_short_keys(self) -> None:
        r = log_record({"level": 50, "time": 1763805600123, "hostname": "n1", "msg": "boom", "app": "web"})
        assert (r.host, r.service, r.level, r.time) == ("n1", "web", "error", 1763805600123)

    def test_syslog_style_json(self) -> None:
        r = log_record({"program": "sshd", "hostname": "bastion", "severity": "crit", "message": "x"})
        assert (r.host, r.service, r.level) == ("bastion", "sshd", "critical")

    def test_missing_parts_are_empty(self) -> None:
        r = log_record({"message": "only text"})
        assert (r.host, r.service, r.level, r.time) == ("", "", "info", None)


class TestRejects:
    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            ({"host": "a"}, "no message field (message, msg, log, @message)"),
            ({"message": {"a": 1}}, "message 'message' must be text, got dict"),
            ({"msg": [1]}, "message 'msg' must be text, got list"),
            ([{"message": "x"}], "expected a JSON object, got list"),
        ],
    )
    def test_reason(self, record: object, reason: str) -> None:
        with pytest.raises(BadLogRecord) as caught:
            log_record(record)
        assert str(caught.value) == reason
