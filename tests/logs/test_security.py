"""Security detectors on real OpenSSH/Linux samples and on synthetic attacks with ground truth."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from aiops.detectors.core.errors import InputError
from aiops.detectors.evaluation.security_report import run_scenario, security_findings
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.security.auth_events import read_auth_event
from aiops.detectors.security.syslog3164 import parse_syslog_line

FAILED = re.compile(r"Failed \S+ for (?:invalid user )?\S+ from (\S+) port|authentication failure;.*rhost=(\S+)")


def _failure_times_by_ip(lines: list[str]) -> dict[str, list[float]]:
    """Reference: failure times per source, read with a plain regex."""
    times: dict[str, list[float]] = defaultdict(list)
    for raw in lines:
        try:
            line = parse_syslog_line(raw, year=2017)
        except InputError:
            continue
        found = FAILED.search(line.message)
        if found and (found.group(1) or found.group(2)):
            times[found.group(1) or found.group(2)].append(line.time)
    return times


def _max_in_window(times: list[float], width: float) -> int:
    best = 0
    for i, t in enumerate(times):
        best = max(best, sum(1 for u in times[i:] if u - t < width))
    return best


@pytest.mark.parametrize("system", ["OpenSSH", "Linux"])
def test_ip_bursts_on_samples_match_a_reference_count(loghub, system) -> None:
    """Exactly the sources with >= 10 failures inside some 300 s window are reported as IP bursts."""
    lines = (loghub / system / f"{system}_2k.log").read_text().splitlines()
    found = security_findings(lines, year=2017)
    reported = {a.labels["src_ip"] for a in found if a.kind == "auth_failure_burst" and "user" not in a.labels}
    expected = {ip for ip, times in _failure_times_by_ip(lines).items() if _max_in_window(times, 300.0) >= 10}
    assert expected and reported == expected


def test_openssh_sample_spraying_names_many_users(loghub) -> None:
    """Spraying reports come from sources that tried at least 5 distinct users."""
    lines = (loghub / "OpenSSH" / "OpenSSH_2k.log").read_text().splitlines()
    found = [a for a in security_findings(lines, year=2017) if a.kind == "password_spraying"]
    assert found
    for a in found:
        tried = {m.group(1) for raw in lines if a.labels["src_ip"] in raw
                 for m in [re.search(r"[Ii]nvalid user (\S+) from", raw)] if m}
        assert a.values["distinct_users"] >= 5 and len(tried) >= 5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_attacks_all_reported_without_false_alarms(seed) -> None:
    """Brute force, login after it, spraying, new login source, unusual sudo: all found, nothing else."""
    result = run_scenario(seed=seed)
    assert len(result.expected) == 7
    assert result.detected == result.expected
    assert result.false_alarms == []


def test_thresholds_come_from_settings() -> None:
    """Raising the per-user limit above the brute force silences the per-user burst, and only it."""
    config = LogsConfig.model_validate({"security": {"failure_burst": {"per_user": 50}}})
    result = run_scenario(seed=1, config=config)
    missed = [e for e in result.expected if e not in result.detected]
    assert [(e.kind, e.user) for e in missed] == [("auth_failure_burst", "root")]


def test_allow_lists() -> None:
    """Ignored IPs never fire; allowed sudo users never fire."""
    config = LogsConfig.model_validate(
        {"security": {"ignored_ips": ["203.0.113.66"], "unusual_sudo": {"allowed_users": ["root", "dave"]}}}
    )
    result = run_scenario(seed=1, config=config)
    missed = {(e.kind, e.user, e.src_ip) for e in result.expected if e not in result.detected}
    assert missed == {
        ("auth_failure_burst", "root", None),
        ("auth_failure_burst", None, "203.0.113.66"),
        ("login_after_failures", "root", "203.0.113.66"),
        ("unusual_sudo", "dave", None),
    }


@pytest.mark.parametrize(
    ("message", "service", "kind", "user", "ip"),
    [
        ("Failed password for invalid user admin from 1.2.3.4 port 22 ssh2", "sshd", "failure", "admin", "1.2.3.4"),
        ("Failed publickey for git from 2001:db8::5 port 22 ssh2", "sshd", "failure", "git", "2001:db8::5"),
        ("Invalid user oracle from 5.6.7.8", "sshd", "invalid_user", "oracle", "5.6.7.8"),
        ("Accepted password for fztu from 119.137.62.142 port 49116 ssh2", "sshd", "success", "fztu", "119.137.62.142"),
        ("authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root",
         "sshd(pam_unix)", "failure", "root", "218.188.2.4"),
        ("bob : TTY=pts/1 ; PWD=/srv ; USER=root ; COMMAND=/usr/bin/id", "sudo", "escalation", "bob", None),
        ("session opened for user news by (uid=0)", "su(pam_unix)", "escalation", "root", None),
        ("Successful su for root by alice", "su", "escalation", "alice", None),
    ],
)
def test_auth_events_read_from_messages(message, service, kind, user, ip) -> None:
    event = read_auth_event(message, 0.0, service=service)
    assert event is not None and (event.kind, event.user, event.src_ip) == (kind, user, ip)


def test_sshd_session_lines_are_not_escalations() -> None:
    assert read_auth_event("pam_unix(sshd:session): session opened for user fztu by (uid=0)", 0.0,
                           service="sshd") is None


def test_syslog_reader_rejects_bad_lines() -> None:
    for bad in ("", "hello world", "Foo 10 06:55:46 host prog: x", "Feb 31 06:55:46 host prog: x"):
        with pytest.raises(InputError):
            parse_syslog_line(bad, year=2017)
    line = parse_syslog_line("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown", year=2005)
    assert (line.program, line.pid, line.message) == ("sshd(pam_unix)", 19939, "check pass; user unknown")


def test_repeated_lines_reach_the_security_detectors_through_log_intelligence() -> None:
    """Lines repeated word for word are still read: an auth failure repeated fires, an ordinary line does not."""
    from aiops.detectors.core.shapes import Event
    from aiops.detectors.logs.config import LogsConfig
    from aiops.detectors.logs.intelligence import LogIntelligence

    li = LogIntelligence(LogsConfig())
    labels = {"host": "h1", "service": "sshd"}
    kinds: list[str] = []
    for i in range(12):
        for text in ("Connection closed by 10.0.0.9 [preauth]", "Failed password for root from 10.0.0.9 port 22 ssh2"):
            ev = Event("log", "log|host=h1,service=sshd", labels, float(i), {}, message=text, level="info")
            kinds += [a.kind for a in li.process([ev], now=float(i)).anomalies]
    assert "auth_failure_burst" in kinds
