"""Raw syslog lines: RFC 5424, RFC 3164 with and without PRI, year and zone inference."""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aiops.pipeline.normalise.levels import LEVELS, normalise_level, syslog_level
from aiops.pipeline.normalise.syslog import BadSyslog, parse_syslog
from aiops.pipeline.normalise.timestamps import iso, parse_time

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "loghub"
NOW = parse_time("2026-11-22T12:00:00Z")


class TestRfc5424:
    """The examples of RFC 5424 section 6.5 and rsyslog's RFC 5424 output."""

    def test_rfc_example_1(self) -> None:
        line = ("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                "'su root' failed for lonvick on /dev/pts/8")
        r = parse_syslog(line, now=NOW)
        assert (r.host, r.service, r.level) == ("mymachine.example.com", "su", "critical")
        assert iso(r.time) == "2003-10-11T22:14:15.003Z"
        assert r.message == "'su root' failed for lonvick on /dev/pts/8"

    def test_rfc_example_2_offset(self) -> None:
        line = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
        r = parse_syslog(line, now=NOW)
        assert iso(r.time) == "2003-08-24T12:14:15.000Z"
        assert (r.host, r.service, r.level) == ("192.0.2.1", "myproc", "notice")
        assert r.message == "%% It's time to make the do-nuts."

    def test_structured_data_with_escapes_and_bom(self) -> None:
        line = ('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                '[exampleSDID@32473 iut="3" eventSource="Appl\\]ic\\"ation" eventID="1011"]'
                '[examplePriority@32473 class="high"] \ufeffAn application event log entry...')
        r = parse_syslog(line, now=NOW)
        assert r.message == "An application event log entry..."
        assert r.service == "evntslog"

    def test_structured_data_without_message(self) -> None:
        r = parse_syslog('<165>1 2003-10-11T22:14:15.003Z host app - - [a@1 x="y"]', now=NOW)
        assert r.message == ""

    def test_nil_values(self) -> None:
        r = parse_syslog("<14>1 - - - - - - hello", now=NOW)
        assert (r.host, r.service, r.time, r.message, r.level) == ("", "", NOW, "hello", "info")


class TestRfc3164:
    """BSD syslog: rsyslog forwarding format and plain /var/log files."""

    def test_with_pri(self) -> None:
        r = parse_syslog("<38>Nov 22 09:15:02 web-1 sshd[4242]: Accepted publickey for deploy", now=NOW)
        assert (r.host, r.service, r.level) == ("web-1", "sshd", "info")
        assert iso(r.time) == "2026-11-22T09:15:02.000Z"
        assert r.message == "Accepted publickey for deploy"

    def test_single_digit_day_double_space(self) -> None:
        r = parse_syslog("<11>Nov  2 01:02:03 db-1 postgres[77]: FATAL: too many connections", now=NOW)
        assert iso(r.time) == "2026-11-02T01:02:03.000Z" and r.level == "error"

    def test_without_hostname_local_socket(self) -> None:
        r = parse_syslog("<13>Nov 22 11:00:00 myapp[12]: hello", now=NOW)
        assert (r.host, r.service, r.message) == ("", "myapp", "hello")

    def test_december_line_read_in_january_is_last_year(self) -> None:
        january = parse_time("2027-01-01T00:10:00Z")
        assert iso(parse_syslog("Dec 31 23:59:59 h app: x", now=january).time) == "2026-12-31T23:59:59.000Z"

    def test_feb_29_falls_back_to_leap_year(self) -> None:
        r = parse_syslog("Feb 29 10:00:00 h app: x", now=parse_time("2025-03-01T00:00:00Z"))
        assert iso(r.time) == "2024-02-29T10:00:00.000Z"

    def test_local_zone(self) -> None:
        r = parse_syslog("Nov 22 10:00:00 h app: x", now=NOW, zone=ZoneInfo("Europe/Berlin"))
        assert iso(r.time) == "2026-11-22T09:00:00.000Z"

    def test_rsyslog_file_format_iso(self) -> None:
        r = parse_syslog("2026-11-22T10:00:00.123456+01:00 web-1 nginx: GET /", now=NOW)
        assert (r.host, r.service, r.message) == ("web-1", "nginx", "GET /")
        assert iso(r.time) == "2026-11-22T09:00:00.123Z"

    def test_tag_module_suffix_dropped(self) -> None:
        r = parse_syslog("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown", now=NOW)
        assert (r.host, r.service, r.message) == ("combo", "sshd", "check pass; user unknown")

    def test_tag_without_colon(self) -> None:
        r = parse_syslog("Jun 19 04:09:11 combo syslogd 1.4.1: restart.", now=NOW)
        assert (r.service, r.message) == ("syslogd", "1.4.1: restart.")


class TestRejects:
    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("hello world", "not syslog (RFC 5424 or 3164): 'hello world'"),
            ("<999>1 - - - - - - x", "PRI 999 is out of range 0..191"),
            ("<13>1 yesterday h a - - - x", "timestamp 'yesterday' is not epoch seconds/ms/us/ns nor ISO 8601"),
            ("<13>1 - h a - - [unclosed x", "structured data element has no closing ']'"),
            ("<13>1 - h a - - x", "structured data must be '-' or start with '['"),
            ("Foo 12 10:00:00 h app: x", "unknown month 'Foo'"),
            ("Feb 30 10:00:00 h app: x", "'Feb 30 10:00:00' is not a valid date in 2025 or 2026"),
            ("Nov 22 10:00:00 ", "syslog line has no host nor message: 'Nov 22 10:00:00 '"),
        ],
    )
    def test_reason(self, line: str, reason: str) -> None:
        with pytest.raises(BadSyslog) as caught:
            parse_syslog(line, now=NOW)
        assert str(caught.value) == reason


class TestLoghub:
    """Every line of the loghub Linux, OpenSSH and Mac samples parses, with the right tags."""

    @pytest.mark.parametrize("system", ["Linux", "OpenSSH", "Mac"])
    def test_every_line_parses(self, system: str) -> None:
        lines = (DATA / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
        records = [parse_syslog(line, now=NOW) for line in lines]
        assert len(records) == 2000
        assert all(r.host for r in records)
        assert sum(1 for r in records if r.service) >= 1990

    def test_openssh_fields(self) -> None:
        line = (DATA / "OpenSSH" / "OpenSSH_2k.log").read_text().splitlines()[1]
        r = parse_syslog(line, now=NOW)
        assert (r.host, r.service, r.message) == ("LabSZ", "sshd", "Invalid user webmaster from 173.234.31.186")
        assert iso(r.time).startswith("2025-12-10T06:55:46")  # December is ahead of Nov 22: last year

    def test_linux_services(self) -> None:
        lines = (DATA / "Linux" / "Linux_2k.log").read_text(errors="replace").splitlines()
        services = {parse_syslog(line, now=NOW).service for line in lines}
        assert {"sshd", "su", "kernel", "logrotate", "cups", "syslogd"} <= services
        assert not any("(" in s for s in services)


class TestLevels:
    """Every way of writing a level maps to one of the six."""

    @pytest.mark.parametrize(
        ("given", "level"),
        [("WARN", "warning"), ("warning", "warning"), ("W", "warning"), ("ERR", "error"), ("Error", "error"),
         ("E", "error"), ("SEVERE", "error"), ("FATAL", "critical"), ("panic", "critical"), ("emerg", "critical"),
         ("alert", "critical"), ("crit", "critical"), ("notice", "notice"), ("INFO", "info"),
         ("Informational", "info"), ("TRACE", "debug"), ("dbg", "debug"), (0, "critical"), (3, "error"),
         ("4", "warning"), (5, "notice"), (6, "info"), (7, "debug"), (10, "debug"), (30, "info"),
         (40, "warning"), (50, "error"), (60, "critical"), ("warning2", "warning"), ("nonsense", "info"),
         (None, "info"), (99, "info"), (float("nan"), "info"), ({"x": 1}, "info")],
    )
    def test_mapping(self, given: object, level: str) -> None:
        assert normalise_level(given) == level
        assert level in LEVELS

    def test_every_pri(self) -> None:
        expected = ["critical", "critical", "critical", "error", "warning", "notice", "info", "debug"]
        assert [syslog_level(facility * 8 + s) for facility in (0, 4, 23) for s in range(8)] == expected * 3


class TestHostileInput:
    """Long and pathological lines are handled in linear time (no regex backtracking blow-up), with a verdict."""

    LINES = {
        "open parens": (lambda n: "Nov 22 10:00:00 h " + "(" * n + ")", "record"),
        "one long word": (lambda n: "Nov 22 10:00:00 h " + "a" * n, "record"),
        "unclosed structured data": (lambda n: "<13>1 2026-11-22T10:00:00Z h a - - [" + '"' * n, "no closing ']'"),
        "repeated version": (lambda n: "<13>" + "1 " * (n // 2), "timestamp"),
        "endless timestamp": (lambda n: "2026-11-22T" + "9" * n + " h a: x", "timestamp"),
    }

    @staticmethod
    def verdict(line: str) -> str:
        try:
            record = parse_syslog(line, now=NOW)
        except BadSyslog as exc:
            return str(exc)
        assert record.host == "h"
        assert len(record.service) + len(record.message) >= len(line) - 50  # the long part is kept, not lost
        return "record"

    @classmethod
    def seconds(cls, line: str) -> float:
        """The fastest of three parses (the machine is shared: the minimum is the parser's own time)."""
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            cls.verdict(line)
            best = min(best, time.perf_counter() - started)
        return best

    @pytest.mark.parametrize("name", list(LINES))
    def test_finishes(self, name: str) -> None:
        """Each line is parsed or refused with the reason expected, and ten times the input takes about ten times
        as long, not a hundred (a backtracking regex on 200k characters would take minutes)."""
        make, expected = self.LINES[name]
        assert expected in self.verdict(make(200_000))
        small, large = self.seconds(make(200_000)), self.seconds(make(2_000_000))
        assert large < 2.0, f"{large:.3f}s for 2M characters"
        assert large <= 30 * small + 0.05, f"{small:.4f}s for 200k, {large:.4f}s for 2M characters"
