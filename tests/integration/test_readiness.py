"""Liveness and readiness of a real worker when its broker goes away."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.support.broker import start_broker
from tests.support.worker import WorkerFactory

pytestmark = pytest.mark.integration


def _get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _until(predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def test_ready_follows_the_broker_while_health_stays_up(tmp_path):
    """/ready is 200 once restored with the broker answering, 503 naming the broker once it is gone; /health stays 200."""
    broker = start_broker()
    workers = WorkerFactory(broker, tmp_path)
    try:
        worker = workers.start(workers.config())
        status, body = _until(lambda: (r := _get(worker.port, "/ready"))[0] == 200 and r, 60)
        assert body == {"ready": True, "state_restored": True, "broker_reachable": True}
        assert _get(worker.port, "/health") == (200, {"status": "ok"})
        broker.stop()
        status, body = _until(lambda: (r := _get(worker.port, "/ready"))[0] == 503 and r, 60)
        assert body["broker_reachable"] is False and body["ready"] is False
        assert _get(worker.port, "/health") == (200, {"status": "ok"})
        _until(lambda: '"broker.unreachable"' in worker.logs(), 15)  # said once in the log, by the probe
        worker.kill()  # with its broker gone a graceful stop would wait out Faust's own timeouts
    finally:
        workers.stop_all()
        broker.stop()
