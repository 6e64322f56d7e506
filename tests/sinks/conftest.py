"""Services for the sink tests, started once per session on loopback with free ports.

Alertmanager and VictoriaMetrics come from Debian packages; the Kafka broker
is the session's embedded Tansu (tests/conftest.py). Each is started
bounded, waited for, and terminated at the end of the session.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from aiops.alerting.alert import Alert, Notification
from aiops.pipeline.tools.embedded_broker import free_port

START_TIMEOUT_S = 30.0


def _wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{what} not ready within {START_TIMEOUT_S}s: {log_path.read_text()[-2000:]}")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as resp:
        return resp.status == 200


@dataclass
class Service:
    url: str
    port: int
    proc: subprocess.Popen[bytes]


def _start(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real Prometheus Alertmanager with a do-nothing route."""
    tmp = tmp_path_factory.mktemp("alertmanager")
    config = tmp / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\n  group_wait: 1h\nreceivers:\n  - name: blackhole\n")
    port = free_port()
    log_path = tmp / "alertmanager.log"
    proc = _start(["/usr/bin/prometheus-alertmanager", f"--config.file={config}",
                   f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                   f"--storage.path={tmp / 'data'}"], log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _http_ok(f"{url}/-/ready"), proc, "alertmanager", log_path)
        yield Service(url, port, proc)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real VictoriaMetrics accepting influxdb-client's /api/v2/write."""
    tmp = tmp_path_factory.mktemp("victoria")
    port = free_port()
    log_path = tmp / "victoria.log"
    proc = _start(["/usr/bin/victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
                   f"-storageDataPath={tmp / 'data'}"], log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _http_ok(f"{url}/health"), proc, "victoria-metrics", log_path)
        yield Service(url, port, proc)
    finally:
        _stop(proc)


@pytest.fixture
def kafka_broker(broker):
    """The session's embedded Kafka-compatible broker (tests/conftest.py)."""
    return broker


def make_alert(i: int = 0, *, status: str = "firing", severity: str = "error", **labels: str) -> Alert:
    alert = Alert.firing(labels={"alertname": "AnomalyDetected", "series": f"cpu|host=web-{i}",
                                 "host": f"web-{i}", "service": "shop", **labels},
                         annotations={"summary": f"cpu.user high on web-{i}", "runbook": "https://runbooks/cpu"},
                         starts_at=1_700_000_000.0 + i, severity=severity, score=0.97)
    if status == "resolved":
        alert.status = "resolved"
        alert.ends_at = alert.starts_at + 120.0
        alert.updated_at = alert.ends_at
    return alert


def make_notification(i: int = 0, *, receiver: str = "sre", alerts: list[Alert] | None = None) -> Notification:
    return Notification(receiver=receiver, group_key=f"{{}}:{{alertname=\"AnomalyDetected\",n=\"{i}\"}}",
                        group_labels={"alertname": "AnomalyDetected"},
                        alerts=alerts if alerts is not None else [make_alert(i)], sent_at=1_700_000_100.0 + i)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LocalHttp:
    """An aiohttp server on 127.0.0.1 that can be stopped and restarted on the same port."""

    def __init__(self, handler: Handler, port: int | None = None, path: str = "/{tail:.*}") -> None:
        self.handler = handler
        self.port = port or free_port()
        self.path = path
        self.runner: web.AppRunner | None = None
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self.handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def http_server() -> Any:
    """A factory of started ``LocalHttp`` servers, all stopped at the end of the test."""
    servers: list[LocalHttp] = []

    async def start(handler: Handler, port: int | None = None) -> LocalHttp:
        server = LocalHttp(handler, port)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def new_alert() -> Callable[..., Alert]:
    """Builds a sample alert: ``new_alert(i, status=..., severity=..., **labels)``."""
    return make_alert


@pytest.fixture
def new_notification() -> Callable[..., Notification]:
    """Builds a sample notification: ``new_notification(i, receiver=..., alerts=...)``."""
    return make_notification


@pytest.fixture
def topic_factory(kafka_broker) -> Callable[[str], str]:
    """Creates a one-partition topic on the session broker and returns its name."""
    def create(name: str) -> str:
        kafka_broker.create_topic(name, 1)
        return name
    return create


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
