"""The worker's alerting side: anomalies in, notifications and actions out."""

from __future__ import annotations

import sys
import time
from typing import Any

import structlog
from aiohttp import web

from aiops.pipeline.config import Settings
from aiops.pipeline.shapes import Anomaly

log = structlog.get_logger(__name__)


class AlertingRuntime:
    def __init__(self, settings: Settings, *, stream=None) -> None:
        self.settings = settings
        self.stream = stream or sys.stdout
        self.worker = None
        self.received = 0

    def attach(self, worker) -> None:
        self.worker = worker

    async def handle(self, anomalies: list[dict[str, Any]]) -> None:
        now = time.time()
        for data in anomalies:
            self.received += 1
            a = Anomaly.from_dict(data)
            self.stream.write(
                f"ANOMALY {a.severity:8s} {a.series_id} score={a.score:.3f} {a.reason} "
                f"(latency {now - a.ingest_time:.2f}s)\n"
            )
        self.stream.flush()

    def web_app(self) -> web.Application:
        return web.Application()

    def metrics(self) -> dict[str, float]:
        return {"anomalies_received": self.received}

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings
