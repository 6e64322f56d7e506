"""Lines written by a real syslog client (util-linux ``logger``) over UDP on loopback normalise right."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard


@pytest.fixture
def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def send_with_logger(sock: socket.socket, *options: str) -> bytes:
    port = str(sock.getsockname()[1])
    env = {**os.environ, "TZ": "UTC"}  # RFC 3164 stamps are local time; the guard reads them as UTC
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", port, "-d", *options], check=True, timeout=10, env=env)
    return sock.recv(65536)


@pytest.mark.parametrize(
    ("fmt", "kind_check"),
    [("--rfc5424", lambda raw: raw.split(b">", 1)[1].startswith(b"1 ")),
     ("--rfc3164", lambda raw: not raw.split(b">", 1)[1].startswith(b"1 "))],
)
def test_logger_datagram(udp: socket.socket, fmt: str, kind_check) -> None:
    raw = send_with_logger(udp, fmt, "-t", "payments", "-p", "auth.err", "--id=4242", "card declined: code=51")
    assert kind_check(raw)  # the client really wrote the format asked for
    now = time.time()
    result = normalise("logs", raw, now=now, guard=IngestGuard())
    assert result.rejects == [], result.rejects
    (event,) = result.events
    assert event.labels["service"] == "payments"
    assert event.labels["host"] == socket.gethostname().split(".")[0] or event.labels["host"] == socket.gethostname()
    assert event.level == "error"
    assert event.message == "card declined: code=51"
    assert abs(event.time - now) < 5


def test_logger_structured_data(udp: socket.socket) -> None:
    raw = send_with_logger(udp, "--rfc5424", "-t", "api", "-p", "daemon.warning",
                           '--sd-id', 'req@32473', '--sd-param', 'id="a\\]b\\"c"', "slow request")
    assert b"[req@32473" in raw
    result = normalise("logs", raw, now=time.time(), guard=IngestGuard())
    (event,) = result.events
    assert (event.level, event.message, event.labels["service"]) == ("warning", "slow request", "api")
