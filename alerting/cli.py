"""Command line for the alerting API: silences, feedback, actions, kill switch (and the policy benchmark).

``register(sub)`` adds the subcommands to the product's CLI; each talks to a
running API (``--api``, default http://127.0.0.1:6066) with the bearer token
from ``AIOPS_API_TOKEN`` and returns 0 on success, 1 when the API refused
(401/403 included), 2 when it could not be reached.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="aiops")
>>> register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["silence", "add", "host=web-1", "--duration", "2h", "--by", "ana"])
>>> args.matchers, args.duration, args.func.__name__
(['host=web-1'], 7200.0, 'silence_add')
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from aiops.alerting.auth import TOKEN_ENV, env_api_token
from aiops.alerting.config import parse_duration
from aiops.alerting.sinks.render import rfc3339

DEFAULT_API = "http://127.0.0.1:6066"


class ApiFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    token = env_api_token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(args.api.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            message = str(exc.reason)
        if exc.code == 401 and not token:
            message = f"{message}; set {TOKEN_ENV}"
        raise ApiFailure(1, f"API refused ({exc.code}): {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiFailure(2, f"cannot reach {args.api}: {getattr(exc, 'reason', exc)}") from None


def _run(func):  # noqa: ANN001, ANN202 - decorator keeping the handler's name
    def handler(args: argparse.Namespace) -> int:
        try:
            result = func(args)
        except ApiFailure as exc:
            print(str(exc), file=sys.stderr)
            return exc.code
        print(json.dumps(with_iso_times(result), indent=2, sort_keys=True))
        return 0
    handler.__name__ = func.__name__
    return handler


def with_iso_times(value: Any) -> Any:
    """Beside each time in Unix seconds (``*_at``, ``time``), the same time in ISO 8601 UTC (``*_iso``).

    >>> with_iso_times({"silences": [{"ends_at": 1800.5, "created_by": "ana"}], "time": None})
    {'silences': [{'ends_at': 1800.5, 'created_by': 'ana', 'ends_at_iso': '1970-01-01T00:30:00.500000Z'}], 'time': None}
    """
    if isinstance(value, list):
        return [with_iso_times(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: with_iso_times(v) for k, v in value.items()}
    for key, v in value.items():
        if (key.endswith("_at") or key == "time") and isinstance(v, (int, float)) and not isinstance(v, bool):
            out.setdefault(f"{key}_iso", rfc3339(v))
    return out


@_run
def silence_add(args: argparse.Namespace) -> Any:
    return _call(args, "POST", "/api/silences", {"matchers": args.matchers, "duration_s": args.duration,
                                                 "created_by": args.by, "comment": args.comment})


@_run
def silence_list(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/api/silences" + ("" if args.all else "?expired=false"))


@_run
def silence_expire(args: argparse.Namespace) -> Any:
    return _call(args, "DELETE", f"/api/silences/{args.id}")


@_run
def feedback(args: argparse.Namespace) -> Any:
    return _call(args, "POST", "/api/feedback", {"fingerprint": args.fingerprint, "verdict": args.verdict,
                                                 "who": args.by, "comment": args.comment, "via": "cli"})


@_run
def actions_list(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/api/actions" + (f"?status={args.status}" if args.status else ""))


@_run
def actions_approve(args: argparse.Namespace) -> Any:
    return _call(args, "POST", f"/api/actions/{args.id}/approve", {"who": args.by})


@_run
def actions_deny(args: argparse.Namespace) -> Any:
    return _call(args, "POST", f"/api/actions/{args.id}/deny", {"who": args.by, "comment": args.comment})


@_run
def killswitch(args: argparse.Namespace) -> Any:
    if args.state == "status":
        return _call(args, "GET", "/api/killswitch")
    return _call(args, "POST", "/api/killswitch", {"engaged": args.state == "on", "who": args.by})


def bench(args: argparse.Namespace) -> int:
    from aiops.alerting.bench import main

    return main(["--series", str(args.series), "--anomalies", str(args.anomalies), "--silences", str(args.silences),
                 "--tick-every", str(args.tick_every)])


def _common(parser: argparse.ArgumentParser, *, by: bool = False) -> None:
    parser.add_argument("--api", default=DEFAULT_API, help=f"alerting API URL (default {DEFAULT_API})")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the API")
    if by:
        parser.add_argument("--by", default=_user(), help="who does this (default: the login name)")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``silence``, ``feedback``, ``actions`` and ``killswitch`` subcommands."""
    silence = sub.add_parser("silence", help="create, list and expire silences")
    ssub = silence.add_subparsers(dest="silence_command", required=True)
    add = ssub.add_parser("add", help="mute alerts matching all the matchers")
    add.add_argument("matchers", nargs="+", help='label matchers, e.g. host=web-1 service=~"api|web"')
    add.add_argument("--duration", type=parse_duration, default=3600.0, help="e.g. 30m, 2h (default 1h)")
    add.add_argument("--comment", default="")
    _common(add, by=True)
    add.set_defaults(func=silence_add)
    lst = ssub.add_parser("list", help="list silences")
    lst.add_argument("--all", action="store_true", help="include expired ones")
    _common(lst)
    lst.set_defaults(func=silence_list)
    exp = ssub.add_parser("expire", help="end a silence now")
    exp.add_argument("id")
    _common(exp)
    exp.set_defaults(func=silence_expire)

    fb = sub.add_parser("feedback", help="mark an alert a false or true positive")
    fb.add_argument("fingerprint")
    fb.add_argument("verdict", choices=["false_positive", "true_positive"])
    fb.add_argument("--comment", default="")
    _common(fb, by=True)
    fb.set_defaults(func=feedback)

    actions = sub.add_parser("actions", help="list, approve and deny remediation actions")
    asub = actions.add_subparsers(dest="actions_command", required=True)
    al = asub.add_parser("list", help="list actions")
    al.add_argument("--status", default=None, help="e.g. awaiting_approval")
    _common(al)
    al.set_defaults(func=actions_list)
    for name, func in (("approve", actions_approve), ("deny", actions_deny)):
        p = asub.add_parser(name, help=f"{name} a pending action")
        p.add_argument("id")
        if name == "deny":
            p.add_argument("--comment", default="")
        _common(p, by=True)
        p.set_defaults(func=func)

    ks = sub.add_parser("killswitch", help="stop (on) or allow (off) every remediation action")
    ks.add_argument("state", choices=["on", "off", "status"])
    _common(ks, by=True)
    ks.set_defaults(func=killswitch)

    b = sub.add_parser("bench-alerting", help="anomalies/s the alert policy ingests and the cost of a tick")
    b.add_argument("--series", type=int, default=2000)
    b.add_argument("--anomalies", type=int, default=50_000)
    b.add_argument("--silences", type=int, default=50)
    b.add_argument("--tick-every", type=int, default=100, help="anomalies between ticks")
    b.set_defaults(func=bench)
