"""Real worker processes (`aiops worker`) for integration tests, each with its own topics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from aiops.pipeline.config import TopicSettings, parse_settings
from aiops.pipeline.tools.embedded_broker import free_port
from aiops.pipeline.topics import ensure_topics


def isolated_config(bootstrap: str, prefix: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    topics = {name: f"{prefix}.{default}" for name, default in TopicSettings().model_dump().items()}
    data: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "partitions": 2, "group_id": f"{prefix}-workers",
                  "session_timeout_s": 6, "rebalance_timeout_s": 7},
        "topics": topics,
        "worker": {"batch_within_s": 0.1, "snapshot_interval_s": 5},
        "logging": {"level": "info", "format": "json"},
    }
    for section, values in (overrides or {}).items():
        data[section] = {**data.get(section, {}), **values}
    return data


class WorkerProcess:
    def __init__(self, config_path: Path, port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.port = port
        self.log_path = log_path
        self.stdout_path = log_path.with_suffix(".out")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiops.pipeline.cli", "worker", "--config", str(config_path)],
            stdout=open(self.stdout_path, "ab"), stderr=open(log_path, "ab"), stdin=subprocess.DEVNULL,
            env={**os.environ, **env} if env else None,
        )

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
            return json.loads(resp.read())

    def wait_healthy(self, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
            try:
                return self.health()
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"worker not healthy after {timeout_s}s:\n{self.logs()[-3000:]}")

    def wait_for(self, predicate, timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll /healthz until predicate(stats) holds."""
        deadline = time.monotonic() + timeout_s
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                stats = self.health()
                if predicate(stats):
                    return stats
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"condition not met in {timeout_s}s; last stats {stats}\n{self.logs()[-2000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def kill(self) -> int:
        """``kill -9``: no shutdown hook runs, nothing is flushed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def rss_kb(self) -> int:
        """The process's resident set (VmRSS of /proc/<pid>/status), in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError(f"no VmRSS for pid {self.proc.pid}")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


class WorkerFactory:
    def __init__(self, broker, tmp_path: Path) -> None:
        self.broker = broker
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def config(self, overrides: dict[str, Any] | None = None, *, prefix: str | None = None) -> dict[str, Any]:
        prefix = prefix or f"t{uuid.uuid4().hex[:8]}"
        data = isolated_config(self.broker.bootstrap, prefix, overrides)
        data.setdefault("worker", {})["data_dir"] = str(self.tmp_path / prefix)
        ensure_topics(parse_settings(data))
        return data

    def start(self, config: dict[str, Any], *, env: dict[str, str] | None = None) -> WorkerProcess:
        """A worker on this config; ``env`` adds to its environment (a plugin's PYTHONPATH, say)."""
        port = free_port()
        config = {**config, "worker": {**config.get("worker", {}), "web_port": port}}
        n = len(self.started)
        path = self.tmp_path / f"worker{n}.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = WorkerProcess(path, port, self.tmp_path / f"worker{n}.log", env)
        self.started.append(proc)
        proc.wait_healthy()
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()
