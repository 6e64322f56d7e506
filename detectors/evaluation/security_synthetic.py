"""Synthetic authentication traffic with known attacks, as syslog lines, and its ground truth.

Background: a few users log in from their usual addresses, now and then
mistype a password once, and the admins use sudo. Injected after a learning
day: a brute force on ``root`` that ends in a successful login, a password
spraying run over many users from one address, a login of a known user from
a new address, and sudo by a user who never used it.

>>> lines, truth = attack_scenario(seed=1)
>>> sorted({t.kind for t in truth})
['auth_failure_burst', 'login_after_failures', 'new_login_source', 'password_spraying', 'unusual_sudo']
>>> lines[0][:6], len(lines) > 50
('Mar  1', True)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone

HOST = "bastion-1"
DAY = 86400.0
START = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()


@dataclass(slots=True, frozen=True)
class Expected:
    """An attack that must be reported: the kind, and the user or address it is about."""

    kind: str
    user: str | None = None
    src_ip: str | None = None
    start: float = 0.0
    end: float = 0.0


def _stamp(t: float) -> str:
    d = datetime.fromtimestamp(t, timezone.utc)
    return f"{d:%b} {d.day:2d} {d:%H:%M:%S}"


def _sshd(t: float, pid: int, text: str) -> tuple[float, str]:
    return t, f"{_stamp(t)} {HOST} sshd[{pid}]: {text}"


def _sudo(t: float, user: str, command: str) -> tuple[float, str]:
    return t, f"{_stamp(t)} {HOST} sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={command}"


def attack_scenario(*, seed: int = 7, days: int = 3) -> tuple[list[str], list[Expected]]:
    """Syslog lines (time order) and the attacks hidden in them."""
    rng = random.Random(seed)
    users = {
        "alice": ["10.0.1.11"],
        "bob": ["10.0.1.12", "10.0.2.12"],
        "carol": ["10.0.1.13"],
        "deploy": ["10.0.5.50"],
        "dave": ["10.0.1.14"],
    }
    admins = ["alice", "deploy"]
    out: list[tuple[float, str]] = []
    pid = 1000
    for day in range(days):
        for user, addresses in users.items():
            for _ in range(rng.randint(3, 6)):
                t = START + day * DAY + rng.uniform(8 * 3600, 18 * 3600)
                pid += 1
                ip = rng.choice(addresses)
                if rng.random() < 0.15:  # a single typo
                    out.append(_sshd(t, pid, f"Failed password for {user} from {ip} port {rng.randint(30000, 60000)} ssh2"))
                    t += rng.uniform(2, 8)
                out.append(_sshd(t, pid, f"Accepted password for {user} from {ip} port {rng.randint(30000, 60000)} ssh2"))
                if user in admins and rng.random() < 0.5:
                    out.append(_sudo(t + rng.uniform(5, 60), user, "/usr/bin/systemctl restart nginx"))
    truth: list[Expected] = []
    # brute force on root from one address, then it gets in
    t0 = START + DAY + 3 * 3600
    brute_ip = "203.0.113.66"
    for i in range(25):
        pid += 1
        out.append(_sshd(t0 + i * 4, pid, f"Failed password for root from {brute_ip} port {40000 + i} ssh2"))
    out.append(_sshd(t0 + 110, pid + 1, f"Accepted password for root from {brute_ip} port 40100 ssh2"))
    truth += [
        Expected("auth_failure_burst", user="root", start=t0, end=t0 + 100),
        Expected("auth_failure_burst", src_ip=brute_ip, start=t0, end=t0 + 100),
        Expected("login_after_failures", user="root", src_ip=brute_ip, start=t0 + 110, end=t0 + 110),
    ]
    # password spraying: one address, one try per user name
    t1 = START + DAY + 5 * 3600
    spray_ip = "198.51.100.23"
    for i, name in enumerate(["admin", "test", "oracle", "postgres", "ubuntu", "git", "guest", "pi", "user", "ftp"]):
        pid += 1
        out.append(_sshd(t1 + i * 20, pid, f"Invalid user {name} from {spray_ip}"))
        out.append(_sshd(t1 + i * 20 + 1, pid, f"Failed password for invalid user {name} from {spray_ip} port {50000 + i} ssh2"))
    truth.append(Expected("password_spraying", src_ip=spray_ip, start=t1, end=t1 + 200))
    truth.append(Expected("auth_failure_burst", src_ip=spray_ip, start=t1, end=t1 + 200))
    # a known user from an address never seen for them
    t2 = START + (days - 1) * DAY + 20 * 3600
    out.append(_sshd(t2, pid + 2, "Accepted publickey for carol from 192.0.2.200 port 51515 ssh2"))
    truth.append(Expected("new_login_source", user="carol", src_ip="192.0.2.200", start=t2, end=t2))
    # sudo by a user who never escalated
    t3 = t2 + 600
    out.append(_sudo(t3, "dave", "/bin/cat /etc/shadow"))
    truth.append(Expected("unusual_sudo", user="dave", start=t3, end=t3))
    out.sort(key=lambda item: item[0])
    return [line for _, line in out], truth


def matches(expected: Expected, kind: str, labels: dict[str, str], time: float, *, slack: float = 600.0) -> bool:
    """Whether a reported anomaly is this expected attack."""
    if kind != expected.kind or not (expected.start - 1 <= time <= expected.end + slack):
        return False
    if expected.user is not None and expected.src_ip is not None:
        return labels.get("user") == expected.user or labels.get("src_ip") == expected.src_ip
    if expected.user is not None:
        return labels.get("user") == expected.user
    return labels.get("src_ip") == expected.src_ip
