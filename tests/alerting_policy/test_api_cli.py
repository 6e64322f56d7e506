"""The alerting API on a real aiohttp server, and the CLI talking to it."""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from aiops.alerting import cli
from aiops.alerting.api import make_app
from aiops.alerting.state import AlertingState
from tests.alerting_policy.builders import anomaly, config
from tests.support.api_tokens import auth, team, token_of


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def state_with(clock: Clock) -> AlertingState:
    return AlertingState.from_config(config(), signer_secret=b"api-secret-0123456789", clock=clock)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aiops")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def run_cli(argv: list[str], capsys) -> tuple[int, object]:
    args = parse(argv)
    code = await asyncio.to_thread(args.func, args)
    out = capsys.readouterr()
    return code, (printed_json(out.out) if code == 0 else out.err)


def printed_json(stdout: str) -> object:
    """The JSON document the CLI printed (the server's own log lines share stdout in this process)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("{", "["))
    end = next(i for i in range(len(lines) - 1, -1, -1) if lines[i] in ("}", "]"))
    return json.loads("\n".join(lines[start:end + 1]))


async def test_alerts_and_silences_endpoints():
    """GET alerts shows mute reasons; silences are created, listed and expired over HTTP."""
    clock = Clock(0)
    state = state_with(clock)
    state.policy.ingest(anomaly("web-1"), now=0)
    async with TestClient(TestServer(make_app(state, tokens=team("ana")), host="127.0.0.1"),
                          headers=auth("ana")) as client:
        assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
        created = await client.post("/api/silences", json={"matchers": ["host=web-1"], "duration_s": 600,
                                                            "created_by": "ana", "comment": "deploy"})
        assert created.status == 201
        silence = await created.json()
        assert (silence["status"], silence["ends_at"]) == ("active", 600)
        [alert] = (await (await client.get("/api/alerts")).json())["alerts"]
        assert alert["state"] == "suppressed" and alert["muted"] == {"silenced_by": [silence["id"]]}
        expired = await client.delete(f"/api/silences/{silence['id']}")
        assert (await expired.json())["status"] == "expired"
        [alert] = (await (await client.get("/api/alerts?status=firing")).json())["alerts"]
        assert alert["state"] == "active"
        listed = (await (await client.get("/api/silences?expired=false")).json())["silences"]
        assert listed == []
        for bad in ({"matchers": ["host=~("], "duration_s": 5, "created_by": "a"},
                    {"matchers": ["host=a"], "created_by": "a"},
                    ["not", "an", "object"]):
            resp = await client.post("/api/silences", json=bad)
            assert resp.status == 400, bad
        unnamed = await client.post("/api/silences", json={"matchers": ["host=a"], "duration_s": 5})
        assert (await unnamed.json())["created_by"] == "ana"  # the token names the author
        assert (await client.delete("/api/silences/nope")).status == 404


async def test_cli_against_a_started_api(capsys, monkeypatch):
    """silence add/list/expire, feedback and killswitch through the CLI and a live server (token from the environment)."""
    clock = Clock(0)
    state = state_with(clock)
    state.policy.ingest(anomaly("web-1"), now=0)
    fp = state.policy.active_alerts()[0].fingerprint
    async with TestServer(make_app(state, tokens=team("operator")), host="127.0.0.1") as server:
        api = ["--api", str(server.make_url(""))]
        monkeypatch.delenv("AIOPS_API_TOKEN", raising=False)
        code, err = await run_cli(["silence", "list", *api], capsys)
        assert code == 1 and "401" in err and "AIOPS_API_TOKEN" in err
        monkeypatch.setenv("AIOPS_API_TOKEN", token_of("operator"))
        code, silence = await run_cli(["silence", "add", "host=web-1", 'service=~"api|web"', "--duration", "30m",
                                       "--by", "ana", "--comment", "deploy", *api], capsys)
        assert code == 0 and silence["matchers"] == ["host=web-1", 'service=~"api|web"']
        assert silence["ends_at"] == 1800 and silence["created_by"] == "operator/ana"
        assert silence["ends_at_iso"] == "1970-01-01T00:30:00Z"  # each time also in ISO 8601 UTC
        code, listed = await run_cli(["silence", "list", *api], capsys)
        assert [s["id"] for s in listed["silences"]] == [silence["id"]]
        code, expired = await run_cli(["silence", "expire", silence["id"], *api], capsys)
        assert expired["status"] == "expired"
        code, record = await run_cli(["feedback", fp, "false_positive", "--by", "bob", *api], capsys)
        assert code == 0 and (record["verdict"], record["who"], record["via"]) == ("false_positive", "operator/bob", "cli")
        code, ks = await run_cli(["killswitch", "on", "--by", "bob", *api], capsys)
        assert ks == {"kill_switch": True} and state.remediator.guards.kill_switch
        code, actions = await run_cli(["actions", "list", *api], capsys)
        assert actions == {"actions": [], "kill_switch": True}
        code, err = await run_cli(["actions", "approve", "nope", "--by", "bob", *api], capsys)
        assert code == 1 and "unknown action" in err
        code, record = await run_cli(["feedback", fp, "true_positive", "--by", "", *api], capsys)
        assert code == 0 and record["who"] == "operator"  # the token says who, a name is optional
    code, err = await run_cli(["killswitch", "status", *api], capsys)
    assert code == 2 and "cannot reach" in err
