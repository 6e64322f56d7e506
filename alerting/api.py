"""The alerting HTTP API (aiohttp): alerts, silences, feedback, actions, kill switch.

``make_app(state)`` returns the application; the worker mounts or runs it.
Every endpoint speaks JSON; bad input answers 400 with ``{"error": ...}``,
unknown ids 404.
"""

from __future__ import annotations

import html
import json
from typing import Any

import structlog
from aiohttp import web

from aiops.alerting.feedback import FeedbackError
from aiops.alerting.remediation.action import ActionError
from aiops.alerting.silences import SilenceError
from aiops.alerting.state import AlertingState
from aiops.pipeline.errors import InputError

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
        data.get("matchers"), starts_at=starts_at, ends_at=ends_at, created_by=_text(data, "created_by"),
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
    record = state.record_feedback(_text(data, "fingerprint"), _text(data, "verdict"), who=_text(data, "who"),
                                   comment=_text(data, "comment", required=False),
                                   via="cli" if data.get("via") == "cli" else "api")
    return web.json_response(record.to_dict(), status=201)


async def feedback_link(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    verdict = request.query.get("verdict", "")
    try:
        record = state.record_link_feedback(request.match_info["token"], verdict)
    except FeedbackError as exc:
        return web.Response(status=400, content_type="text/html",
                            text=f"<p>Feedback not recorded: {html.escape(str(exc))}</p>")
    return web.Response(content_type="text/html", text=(
        f"<p>Recorded <b>{html.escape(record.verdict.replace('_', ' '))}</b> for "
        f"{html.escape(record.series_id)}. Thank you.</p>"))


async def list_actions(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    status = request.query.get("status") or None
    return web.json_response({"actions": [a.to_dict() for a in state.remediator.list(status)],
                              "kill_switch": state.remediator.guards.kill_switch})


async def approve_action(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    action = await state.remediator.approve(request.match_info["id"], who=_text(data, "who"), now=state.clock())
    return web.json_response(action.to_dict())


async def deny_action(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    action = state.remediator.deny(request.match_info["id"], who=_text(data, "who"), now=state.clock(),
                                   comment=_text(data, "comment", required=False))
    return web.json_response(action.to_dict())


async def killswitch(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _body(request)
    engaged = data.get("engaged")
    if not isinstance(engaged, bool):
        raise InputError("engaged must be true or false")
    state.remediator.set_kill_switch(engaged, who=_text(data, "who"), now=state.clock())
    return web.json_response({"kill_switch": state.remediator.guards.kill_switch})


async def get_killswitch(request: web.Request) -> web.Response:
    return web.json_response({"kill_switch": request.app[STATE_KEY].remediator.guards.kill_switch})


def make_app(state: AlertingState, *, health=None) -> web.Application:
    """The aiohttp application serving the alerting API over ``state``.

    ``health``, when given, returns a dict merged into ``GET /healthz`` (the worker's counters).
    """
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
    app[STATE_KEY] = state
    if health is not None:
        app[HEALTH_KEY] = health
    app.add_routes([
        web.get("/healthz", healthz),
        web.get("/api/alerts", list_alerts),
        web.get("/api/silences", list_silences),
        web.post("/api/silences", create_silence),
        web.delete("/api/silences/{id}", expire_silence),
        web.post("/api/feedback", post_feedback),
        web.get("/feedback/{token}", feedback_link),
        web.get("/api/actions", list_actions),
        web.post("/api/actions/{id}/approve", approve_action),
        web.post("/api/actions/{id}/deny", deny_action),
        web.get("/api/killswitch", get_killswitch),
        web.post("/api/killswitch", killswitch),
    ])
    return app
