"""Host syslog traffic: sshd logins, CRON jobs, systemd units, kernel notes.

Benign sshd traffic is what a fleet sees every day: admins logging in with
keys from the office range, the odd mistyped password followed by a
success, and a rare lone probe from the internet. Attacks are added by
``aiops.pipeline.tools.generator.anomalies``, using the same sshd sentences.

>>> sshd_failed("root", "203.0.113.9", 50022)
'Failed password for root from 203.0.113.9 port 50022 ssh2'
>>> sshd_failed("oracle", "203.0.113.9", 50022, invalid=True)
'Failed password for invalid user oracle from 203.0.113.9 port 50022 ssh2'
"""

from __future__ import annotations

import random

from aiops.pipeline.tools.generator.applogs import LogLine, poisson, spread

AUTHPRIV, CRON, DAEMON, KERN = 10, 9, 3, 0
"""Syslog facilities used by the host lines."""

ADMINS = ["deploy", "alice", "bob", "ansible"]
OFFICE_IPS = ["10.20.0.11", "10.20.0.12", "10.20.0.57", "10.20.1.4"]


def sshd_failed(user: str, ip: str, port: int, *, invalid: bool = False) -> str:
    who = f"invalid user {user}" if invalid else user
    return f"Failed password for {who} from {ip} port {port} ssh2"


def sshd_accepted(user: str, ip: str, port: int, *, method: str = "password") -> str:
    return f"Accepted {method} for {user} from {ip} port {port} ssh2"


def sshd_invalid_user(user: str, ip: str, port: int) -> str:
    return f"Invalid user {user} from {ip} port {port}"


def _benign_sshd(rng: random.Random, fingerprint: str) -> list[tuple[str, int, str]]:
    """One benign sshd episode: (level, facility, message) in order."""
    user, ip, port = rng.choice(ADMINS), rng.choice(OFFICE_IPS), rng.randint(32768, 60999)
    roll = rng.random()
    if roll < 0.08:
        return [("warn", AUTHPRIV, sshd_failed(user, ip, port)),
                ("info", AUTHPRIV, sshd_accepted(user, ip, port))]
    if roll < 0.10:
        probe = f"198.51.100.{rng.randint(1, 254)}"
        return [("info", AUTHPRIV, sshd_invalid_user(rng.choice(["test", "admin", "guest"]), probe, port))]
    return [
        ("info", AUTHPRIV, sshd_accepted(user, ip, port, method="publickey") + f": ED25519 SHA256:{fingerprint}"),
        ("info", AUTHPRIV, f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)"),
    ]


_CRON_JOBS = ["command -v debian-sa1 > /dev/null && debian-sa1 1 1", "cd / && run-parts --report /etc/cron.hourly",
              "[ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean"]
_UNITS = ["logrotate.service", "apt-daily.service", "man-db.service", "fstrim.service"]


class HostSyslogSource:
    """The syslog stream of one host: ``rate`` episodes/s of sshd, CRON, systemd and kernel lines."""

    def __init__(self, host: str, *, rate: float, rng: random.Random) -> None:
        self.host = host
        self.rate = rate
        self.rng = rng
        self.pids = {"sshd": rng.randint(600, 900), "CRON": rng.randint(1000, 2000), "systemd": 1, "kernel": 0}
        self.fingerprint = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                   for _ in range(43))

    def lines(self, end: float, span: float) -> list[LogLine]:
        """The lines logged in ``(end - span, end]``."""
        rng = self.rng
        out: list[LogLine] = []
        for t in spread(rng, end, span, poisson(rng, self.rate * span)):
            out.extend(self._episode(t))
        return out

    def line(self, time: float, app: str, level: str, facility: int, message: str, pid: int | None = None) -> LogLine:
        pid = self.pids.get(app, 0) if pid is None else pid
        return LogLine(time, self.host, app, level, message, pid=pid, facility=facility, host_syslog=True)

    def _episode(self, t: float) -> list[LogLine]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            pid = self.pids["sshd"] + rng.randint(1, 30000)
            return [self.line(t, "sshd", lvl, fac, msg, pid) for lvl, fac, msg in _benign_sshd(rng, self.fingerprint)]
        if roll < 0.70:
            pid = self.pids["CRON"] + rng.randint(1, 30000)
            return [self.line(t, "CRON", "info", CRON, f"(root) CMD ({rng.choice(_CRON_JOBS)})", pid)]
        if roll < 0.95:
            unit = rng.choice(_UNITS)
            return [self.line(t, "systemd", "info", DAEMON, f"Starting {unit}..."),
                    self.line(t, "systemd", "info", DAEMON, f"Finished {unit}.")]
        return [self.line(t, "kernel", "notice", KERN,
                          f"[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.{rng.randint(1, 254)} DST=10.0.0.5 PROTO=TCP "
                          f"SPT={rng.randint(1024, 65535)} DPT=23")]
