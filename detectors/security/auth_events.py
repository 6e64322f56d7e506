"""Authentication and privilege events read from OpenSSH, PAM, sudo and su messages.

>>> read_auth_event("Failed password for invalid user admin from 1.2.3.4 port 22 ssh2", 0.0)
AuthEvent(kind='failure', time=0.0, user='admin', src_ip='1.2.3.4', method='password', target_user=None)
>>> read_auth_event("Accepted publickey for bob from 10.0.0.9 port 50000 ssh2", 1.0).kind
'success'
>>> read_auth_event("alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls", 2.0).user
'alice'
>>> read_auth_event("Server listening on 0.0.0.0 port 22.", 3.0) is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AuthKind = Literal["failure", "invalid_user", "success", "escalation"]


@dataclass(slots=True, frozen=True)
class AuthEvent:
    kind: AuthKind
    time: float
    user: str | None
    src_ip: str | None
    method: str | None = None
    target_user: str | None = None


_IP = r"(?P<ip>[0-9A-Fa-f:.]+)"
_RULES: tuple[tuple[AuthKind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("failure", r"Failed (?P<method>\S+) for (?:invalid user )?(?P<user>\S*) from " + _IP),
        ("failure", r"authentication failure;.*?rhost=(?P<ip>\S*)(?:\s+user=(?P<user>\S+))?"),
        ("failure", r"FAILED (?:su|LOGIN) .*?(?:FOR|for) (?P<user>\S+)"),
        ("invalid_user", r"[Ii]nvalid user (?P<user>\S*) from " + _IP),
        ("success", r"Accepted (?P<method>\S+) for (?P<user>\S+) from " + _IP),
        ("escalation", r"^\s*(?P<user>[\w.\-@$]+) : (?:.*?; )?USER=(?P<target>\S+) ; COMMAND="),
        ("escalation", r"session opened for user (?P<target>\S+) by (?P<user>[\w.\-@$]*)\(uid=(?P<uid>\d+)\)"),
        ("escalation", r"Successful su for (?P<target>\S+) by (?P<user>\S+)"),
        ("escalation", r"^\(to (?P<target>\S+)\) (?P<user>\S+) on "),
    )
)


def read_auth_event(message: str, time: float, *, service: str = "") -> AuthEvent | None:
    """The authentication event in a message, or None when it holds none.

    A PAM ``session opened ... by (uid=N)`` line counts as an escalation only
    for su/sudo services (for sshd it is the session of a login).
    """
    for kind, pattern in _RULES:
        found = pattern.search(message)
        if found is None:
            continue
        groups = found.groupdict()
        if kind == "escalation" and "uid" in groups:
            if service and not service.startswith(("su", "sudo")):
                return None
            if not groups.get("user"):
                groups["user"] = "root" if groups.get("uid") == "0" else f"uid:{groups.get('uid')}"
        ip = groups.get("ip") or None
        return AuthEvent(
            kind=kind,
            time=time,
            user=groups.get("user") or None,
            src_ip=ip.strip("[]") if ip else None,
            method=groups.get("method"),
            target_user=groups.get("target"),
        )
    return None
