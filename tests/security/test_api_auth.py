"""Nobody unauthenticated can act on the worker's API; feedback links record only on a POST."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from aiops.alerting.auth import PUBLIC, SCOPES, SIGNED_LINK, TokenBook, check_exposure, hash_token
from aiops.alerting.config import AlertingConfig
from aiops.alerting.state import AlertingState
from aiops.detectors.core.errors import ConfigError
from aiops.pipeline.config import Settings
from aiops.pipeline.runner import web_application, worker_with_alerting
from tests.alerting_policy.builders import anomaly, config

TOKENS = {scope: f"token-for-{scope}-0123456789" for scope in SCOPES}


def token_book() -> TokenBook:
    return TokenBook.from_entries([(f"{scope}-user", hash_token(t), {scope}) for scope, t in TOKENS.items()])


def bearer(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[scope]}"}


@pytest.fixture
def worker_app(monkeypatch):
    """The worker's real web application (alerting API, /metrics, /healthz) with one token per scope."""
    monkeypatch.delenv("AIOPS_API_TOKEN", raising=False)
    api = {"tokens": [{"name": f"{scope}-user", "sha256": hash_token(t), "scopes": [scope]}
                      for scope, t in TOKENS.items()]}
    settings = Settings(alerting=AlertingConfig.model_validate({"api": api}))
    worker, runtime = worker_with_alerting(settings)
    return web_application(worker, runtime), runtime


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


class TestEveryRoute:
    """Routes are enumerated from the app's router, so a new one is checked without touching this test."""

    def test_every_route_declares_a_scope_and_only_health_is_public(self, worker_app):
        app, _ = worker_app
        public, links = set(), set()
        for route in app.router.routes():
            method, path = route.method, route.resource.canonical
            scope = app[__import__("aiops.alerting.auth", fromlist=["x"]).ROUTE_SCOPES_KEY].get(
                ("GET" if method == "HEAD" else method, path))
            assert scope is not None, f"{method} {path} declares no scope"
            if scope == PUBLIC:
                public.add(path)
            if scope == SIGNED_LINK:
                links.add(path)
        assert public == {"/health", "/healthz", "/ready"} and links == {"/feedback/{token}", "/approve/{token}"}

    async def test_anonymous_and_wrong_scope_are_refused(self, worker_app):
        app, runtime = worker_app
        routes = [(r.method, r.resource.canonical) for r in app.router.routes()]
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            checked = 0
            for method, path in routes:
                request = client.request
                probe = await request(method, concrete(path))  # anonymous
                scope = route_scope_of(app, method, path)
                if scope == PUBLIC:
                    assert probe.status in (200, 503), (method, path)  # /ready: 503 until partitions are assigned
                    continue
                if scope == SIGNED_LINK:
                    assert probe.status == 400, (method, path)  # a bogus link is no credential
                    continue
                assert probe.status == 401 and "WWW-Authenticate" in probe.headers, (method, path)
                wrong = await request(method, concrete(path), headers={"Authorization": "Bearer not-a-token"})
                assert wrong.status == 401, (method, path)
                for other in SCOPES:
                    resp = await request(method, concrete(path), headers=bearer(other), json={})
                    allowed = other == scope or other == "admin"
                    assert (resp.status not in (401, 403)) == allowed, (method, path, other, resp.status)
                checked += 1
            assert checked >= 10
        policy, remediator = runtime.service.state.policy, runtime.service.state.remediator
        assert policy.silences.list(0.0, include_expired=True) == [] and not remediator.guards.kill_switch
        assert policy.feedback.drain() == []

    async def test_metrics_needs_read_unless_made_public(self, monkeypatch):
        monkeypatch.delenv("AIOPS_API_TOKEN", raising=False)
        for public, status in ((False, 401), (True, 200)):
            settings = Settings(alerting=AlertingConfig.model_validate({"api": {"public_metrics": public}}))
            app = web_application(*worker_with_alerting(settings))
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                assert (await client.get("/metrics")).status == status


def route_scope_of(app, method: str, path: str) -> str | None:
    from aiops.alerting.auth import ROUTE_SCOPES_KEY

    return app[ROUTE_SCOPES_KEY].get(("GET" if method == "HEAD" else method, path))


class TestPrincipalIsRecorded:
    """The authenticated caller, not a name in the body, is written on every change and in the audit."""

    async def test_silence_feedback_and_kill_switch(self):
        state = AlertingState.from_config(config(), signer_secret=b"api-secret-0123456789", clock=lambda: 0.0)
        state.policy.ingest(anomaly("web-1"), now=0)
        fp = state.policy.active_alerts()[0].fingerprint
        from aiops.alerting.api import make_app

        async with TestClient(TestServer(make_app(state, tokens=token_book()), host="127.0.0.1")) as client:
            silence = await (await client.post("/api/silences", headers=bearer("silence"), json={
                "matchers": ["host=web-1"], "duration_s": 60, "created_by": "mallory"})).json()
            assert silence["created_by"] == "silence-user/mallory"
            record = await (await client.post("/api/feedback", headers=bearer("feedback"), json={
                "fingerprint": fp, "verdict": "true_positive"})).json()
            assert record["who"] == "feedback-user"
            resp = await client.post("/api/killswitch", headers=bearer("admin"), json={"engaged": True})
            assert resp.status == 200
        [audit] = [r for r in state.remediator.drain_audit() if r["event"] == "kill_switch"]
        assert audit["who"] == "admin-user"


class TestFeedbackLinks:
    """A GET (link preview, mail scanner) never records; the page's POST records once, for the recipient."""

    async def test_get_shows_a_page_and_post_records_once(self):
        clock = [0.0]
        state = AlertingState.from_config(config(), signer_secret=b"api-secret-0123456789", clock=lambda: clock[0])
        state.policy.ingest(anomaly("web-1"), now=0)
        [note] = state.policy.tick(10)
        link = urlsplit(note.alerts[0].annotations["feedback_false_positive_url"])
        from aiops.alerting.api import make_app

        async with TestClient(TestServer(make_app(state, tokens=token_book()), host="127.0.0.1")) as client:
            for _ in range(3):  # previews and scanners may fetch a link many times
                page = await client.get(f"{link.path}?{link.query}")
                assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
            assert (await client.head(f"{link.path}?{link.query}")).status in (200, 405)
            assert "<form method=post" in await (await client.get(f"{link.path}?{link.query}")).text()
            assert state.policy.feedback.drain() == []
            done = await client.post(link.path, data={"verdict": "false_positive"})
            assert done.status == 200 and "Recorded" in await done.text()
            again = await client.post(link.path, data={"verdict": "true_positive"})
            assert again.status == 400 and "already been used" in await again.text()
            used = await client.get(f"{link.path}?{link.query}")
            assert used.status == 400
        [record] = state.policy.feedback.drain()
        assert (record["verdict"], record["via"], record["who"]) == ("false_positive", "link", "link:default")

    def test_a_used_link_stays_used_after_a_restart(self):
        from aiops.alerting.service import AlertingService

        class Nowhere:
            async def submit(self, note):
                pass

        first = AlertingService(config(), Nowhere(), clock=lambda: 0.0, signer_secret=b"api-secret-0123456789")
        first.ingest([anomaly("web-1")])
        [note] = first.policy.tick(10)
        token = urlsplit(note.alerts[0].annotations["feedback_true_positive_url"]).path.rsplit("/", 1)[1]
        first.state.record_link_feedback(token, "true_positive")
        again = AlertingService(config(), Nowhere(), clock=lambda: 0.0, signer_secret=b"api-secret-0123456789")
        again.import_state(first.export_state())
        with pytest.raises(Exception, match="already been used"):
            again.state.record_link_feedback(token, "false_positive")


class TestExposure:
    """The worker will not serve the API beyond loopback when no token could authenticate anybody."""

    def test_check(self):
        with pytest.raises(ConfigError, match="not loopback"):
            check_exposure("0.0.0.0", TokenBook([]))
        check_exposure("127.0.0.1", TokenBook([]))
        check_exposure("0.0.0.0", token_book())

    def test_worker_refuses_with_one_line(self, tmp_path):
        path = tmp_path / "worker.yaml"
        path.write_text(yaml.safe_dump({"worker": {"web_host": "0.0.0.0", "data_dir": str(tmp_path)}}))
        env = {k: v for k, v in __import__("os").environ.items() if k != "AIOPS_API_TOKEN"}
        done = subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", "worker", "--config", str(path)],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "AIOPS_API_TOKEN" in lines[0], done.stderr

    def test_tokens_are_kept_hashed_and_never_shown(self, tmp_path, monkeypatch):
        secret = "a-very-secret-token-value-42"
        monkeypatch.setenv("AIOPS_DOC_TOKEN", secret)
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({"alerting": {"api": {"tokens": [
            {"name": "ci", "token": "${AIOPS_DOC_TOKEN}", "scopes": ["read"]}]}}}))
        shown = subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", "config", "validate", str(path), "--show"],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and secret not in shown.stdout + shown.stderr
        from aiops.pipeline.config import load_settings

        book = TokenBook.from_config(load_settings(str(path)).alerting.api)
        assert secret not in repr(vars(book)) and book.authenticate(f"Bearer {secret}").name == "ci"


class TestApprovalLinks:
    """An action awaiting approval is sent to the alert's receivers with a signed link; only its POST decides."""

    async def test_get_never_decides_post_decides_once_for_the_recipient(self, tmp_path):
        from aiops.alerting.api import make_app
        from aiops.alerting.service import AlertingService
        from tests.remediation.builders import argv_recorder, command_config, recorded

        program, out = argv_recorder(tmp_path)
        remediation = command_config(program, out, require_approval=True, approval_timeout_s=600)
        cfg = AlertingConfig.model_validate({"route": {"group_wait_s": 0, "receiver": "oncall"},
                                             "receivers": [{"name": "oncall"}],
                                             "remediation": remediation.model_dump(mode="json")})

        class Inbox:
            def __init__(self):
                self.notes = []

            async def submit(self, note):
                self.notes.append(note)

        inbox, clock = Inbox(), [0.0]
        service = AlertingService(cfg, inbox, clock=lambda: clock[0], signer_secret=b"api-secret-0123456789")
        service.ingest([anomaly("web-1", time=0.0)])
        await service.tick()
        asks = [n for n in inbox.notes if n.group_key.startswith("approval/")]
        assert len(asks) == 1 and asks[0].receiver == "oncall"
        link = urlsplit(asks[0].alerts[0].annotations["approval_url"])
        [action] = service.remediator.list(status="awaiting_approval")
        feedback = urlsplit(next(n for n in inbox.notes if not n.group_key.startswith("approval/"))
                            .alerts[0].annotations["feedback_true_positive_url"])
        async with TestClient(TestServer(make_app(service.state, tokens=token_book()), host="127.0.0.1")) as client:
            for _ in range(2):
                page = await client.get(link.path)
                assert page.status == 200 and "Approve" in await page.text()
            assert action.status == "awaiting_approval" and recorded(out) == []
            crossed = await client.post(feedback.path.replace("/feedback/", "/approve/"), data={"decision": "approve"})
            assert crossed.status == 400  # a feedback link decides nothing
            done = await client.post(link.path, data={"decision": "approve"})
            assert done.status == 200 and "executed" in await done.text()
            again = await client.post(link.path, data={"decision": "deny"})
            assert again.status == 400
        assert (action.status, action.decided_by) == ("executed", "link:oncall")
        assert recorded(out) == [["restart", "web-1"]]
