"""The alerting HTTP API (aiohttp): alerts, silences, feedback, actions, kill switch.

``make_app(state, tokens=...)`` returns the application; the worker mounts or
runs it. Every route but ``/healthz`` needs a bearer token with the route's
scope (``aiops.alerting.auth``); the caller is recorded on every change.
Feedback and approval links carry their own signed, expiring, single-use
credential: GET shows a confirmation page, only its POST records the verdict
or the decision. Every endpoint
speaks JSON; bad input answers 400 with ``{"error": ...}``, unknown ids 404.
"""

from __future__ import annotations

import html
import json
from typing import Any

import structlog
from aiohttp import web

from aiops.alerting import auth
from aiops.alerting.auth import PUBLIC, SIGNED_LINK, TokenBook, add_route
from aiops.alerting.feedback import FeedbackError
from aiops.alerting.remediation.action import ActionError
from aiops.alerting.silences import SilenceError
from aiops.alerting.state import AlertingState
from aiops.detectors.core.errors import InputError

log = structlog.get_logger(__name__)

STATE_KEY = web.AppKey("alerting_state", AlertingState)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _status_for(exc: InputError) -> int:
    return 404 if str(exc).startswith("unknown") else 400


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except (SilenceError, ActionError, FeedbackError, InputError) as exc:
        return _error(_status_for(exc), str(exc))


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("request body must be JSON") from None
    if not isinstance(data, dict):
        raise InputError("request body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(key, default)
    if (required and not value) or not isinstance(value, str):
        raise InputError(f"{key} must be a non-empty string" if required else f"{key} must be a string")
    return value


HEALTH_KEY = web.AppKey("health", object)


async def healthz(request: web.Request) -> web.Response:
    extra = request.app.get(HEALTH_KEY)
    return web.json_response({"status": "ok", **(extra() if extra else {})})


async def list_alerts(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    alerts = state.policy.alerts(state.clock())
    status = request.query.get("status")
    if status:
        alerts = [a for a in alerts if a["status"] == status]
    return web.json_response({"alerts": alerts})


async def list_silences(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    now = state.clock()
    expired = request.query.get("expired", "true") != "false"
    return web.json_response({"silences": [s.to_dict(now) for s in state.policy.silences.list(now, include_expired=expired)]})


async def create_silence(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    now = state.clock()
    starts_at = data.get("starts_at", now)
    ends_at = data.get("ends_at")
    if ends_at is None:
        duration = data.get("duration_s")
        if not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration <= 0:
            raise InputError("give ends_at or a positive duration_s")
        if not isinstance(starts_at, (int, float)):
            raise InputError("starts_at must be a number")
        ends_at = starts_at + duration
    silence = state.policy.silences.create(
        data.get("matchers"), starts_at=starts_at, ends_at=ends_at,
        created_by=auth.who(request, data.get("created_by")),
        comment=_text(data, "comment", required=False), now=now)
    return web.json_response(silence.to_dict(now), status=201)


async def expire_silence(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    now = state.clock()
    silence = state.policy.silences.expire(request.match_info["id"], now=now)
    return web.json_response(silence.to_dict(now))


async def post_feedback(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    record = state.record_feedback(_text(data, "fingerprint"), _text(data, "verdict"),
                                   who=auth.who(request, data.get("who")),
                                   comment=_text(data, "comment", required=False),
                                   via="cli" if data.get("via") == "cli" else "api")
    return web.json_response(record.to_dict(), status=201)


_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                 "Content-Security-Policy": "default-src 'none'; form-action 'self'"}


def _page(status: int, body: str) -> web.Response:
    return web.Response(status=status, content_type="text/html", headers=_PAGE_HEADERS,
                        text=f"<!doctype html><meta charset=utf-8><title>aiops feedback</title>{body}")


async def feedback_link(request: web.Request) -> web.Response:
    """GET of a feedback link: a confirmation page; nothing is recorded (link previews and scanners GET too)."""
    state = request.app[STATE_KEY]
    token = request.match_info["token"]
    verdict = request.query.get("verdict", "")
    try:
        payload = state.check_link(token, verdict)
    except FeedbackError as exc:
        return _page(400, f"<p>This feedback link cannot be used: {html.escape(str(exc))}</p>")
    label = html.escape(verdict.replace("_", " "))
    return _page(200, (
        f"<p>Mark the alert on <b>{html.escape(str(payload.get('series_id', '')))}</b> as <b>{label}</b>?</p>"
        f"<form method=post action='{html.escape(request.path)}'>"
        f"<input type=hidden name=verdict value='{html.escape(verdict)}'>"
        f"<button type=submit>Record {label}</button></form>"))


async def feedback_link_confirm(request: web.Request) -> web.Response:
    """POST from the confirmation page: records the verdict once, attributed to the link's recipient."""
    state = request.app[STATE_KEY]
    form = await request.post()
    verdict = form.get("verdict", "")
    try:
        record = state.record_link_feedback(request.match_info["token"], str(verdict))
    except FeedbackError as exc:
        return _page(400, f"<p>Feedback not recorded: {html.escape(str(exc))}</p>")
    return _page(200, (f"<p>Recorded <b>{html.escape(record.verdict.replace('_', ' '))}</b> for "
                       f"{html.escape(record.series_id)}. Thank you.</p>"))


async def approval_link(request: web.Request) -> web.Response:
    """GET of an approval link: the action and two buttons; nothing is decided by a GET."""
    state = request.app[STATE_KEY]
    try:
        _, action = state.check_approval_link(request.match_info["token"])
    except FeedbackError as exc:
        return _page(400, f"<p>This approval link cannot be used: {html.escape(str(exc))}</p>")
    path = html.escape(request.path)
    return _page(200, (
        f"<p>Run <b>{html.escape(action.name)}</b> on <b>{html.escape(action.target)}</b>?</p>"
        f"<p>Why: {html.escape(action.why)}</p>"
        f"<form method=post action='{path}'><input type=hidden name=decision value=approve>"
        f"<button type=submit>Approve</button></form>"
        f"<form method=post action='{path}'><input type=hidden name=decision value=deny>"
        f"<button type=submit>Deny</button></form>"))


async def approval_link_decide(request: web.Request) -> web.Response:
    """POST from the approval page: decides once, for the link's recipient."""
    state = request.app[STATE_KEY]
    form = await request.post()
    try:
        action = await state.decide_by_link(request.match_info["token"], str(form.get("decision", "")))
    except (FeedbackError, ActionError) as exc:
        return _page(400, f"<p>Nothing decided: {html.escape(str(exc))}</p>")
    return _page(200, f"<p>{html.escape(action.name)} on {html.escape(action.target)}: "
                      f"<b>{html.escape(action.status)}</b>.</p>")


async def list_actions(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    status = request.query.get("status") or None
    return web.json_response({"actions": [a.to_dict() for a in state.remediator.list(status)],
                              "kill_switch": state.remediator.guards.kill_switch})


async def approve_action(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    action = await state.remediator.approve(request.match_info["id"], who=auth.who(request, data.get("who")),
                                            now=state.clock())
    return web.json_response(action.to_dict())


async def deny_action(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    action = state.remediator.deny(request.match_info["id"], who=auth.who(request, data.get("who")), now=state.clock(),
                                   comment=_text(data, "comment", required=False))
    return web.json_response(action.to_dict())


async def killswitch(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    engaged = data.get("engaged")
    if not isinstance(engaged, bool):
        raise InputError("engaged must be true or false")
    state.remediator.set_kill_switch(engaged, who=auth.who(request, data.get("who")), now=state.clock())
    return web.json_response({"kill_switch": state.remediator.guards.kill_switch})


async def get_killswitch(request: web.Request) -> web.Response:
    return web.json_response({"kill_switch": request.app[STATE_KEY].remediator.guards.kill_switch})


#: Every route of the API with the scope it needs (``auth.PUBLIC``, ``auth.SIGNED_LINK`` or a token scope).
ROUTES = (
    ("GET", "/healthz", healthz, PUBLIC),
    ("GET", "/api/alerts", list_alerts, "read"),
    ("GET", "/api/silences", list_silences, "read"),
    ("POST", "/api/silences", create_silence, "silence"),
    ("DELETE", "/api/silences/{id}", expire_silence, "silence"),
    ("POST", "/api/feedback", post_feedback, "feedback"),
    ("GET", "/feedback/{token}", feedback_link, SIGNED_LINK),
    ("POST", "/feedback/{token}", feedback_link_confirm, SIGNED_LINK),
    ("GET", "/approve/{token}", approval_link, SIGNED_LINK),
    ("POST", "/approve/{token}", approval_link_decide, SIGNED_LINK),
    ("GET", "/api/actions", list_actions, "read"),
    ("POST", "/api/actions/{id}/approve", approve_action, "approve"),
    ("POST", "/api/actions/{id}/deny", deny_action, "approve"),
    ("GET", "/api/killswitch", get_killswitch, "read"),
    ("POST", "/api/killswitch", killswitch, "admin"),
)


def make_app(state: AlertingState, *, health=None, tokens: TokenBook | None = None) -> web.Application:
    """The aiohttp application serving the alerting API over ``state``.

    ``health``, when given, returns a dict merged into ``GET /healthz`` (the worker's counters).
    ``tokens`` are the bearer tokens it accepts; without any, every route but /healthz and signed
    links answers 401.
    """
    app = web.Application(middlewares=[auth.authenticate, _errors], client_max_size=64 * 1024)
    app[STATE_KEY] = state
    app[auth.TOKENS_KEY] = tokens if tokens is not None else TokenBook([])
    if health is not None:
        app[HEALTH_KEY] = health
    for method, path, handler, scope in ROUTES:
        add_route(app, method, path, handler, scope)
    return app
