"""Whether the broker answers: a metadata request now and then, in a thread, for ``/ready``.

A worker that lost its broker keeps its partitions in memory and its event
loop answers, so liveness stays green; readiness must not. ``BrokerProbe``
asks for the cluster's metadata every ``interval_s`` (off the event loop,
quietly: librdkafka's own retry logs are off) and calls the broker
reachable while the last answer is at most ``stale_s`` old.

>>> probe = BrokerProbe({"bootstrap.servers": "127.0.0.1:9"}, stale_s=30.0)
>>> probe.reachable                     # never answered
False
>>> probe.answered(at=100.0); probe.reachable_at(120.0), probe.reachable_at(131.0)
(True, False)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

log = structlog.get_logger(__name__)


class BrokerProbe:
    """The time of the broker's last answer to a metadata request, refreshed by ``run``."""

    def __init__(self, conf: dict[str, Any], *, interval_s: float = 2.0, timeout_s: float = 2.0,
                 stale_s: float = 10.0) -> None:
        self.conf = {k: v for k, v in conf.items() if k != "logger"} | {"log_level": 0}
        self.interval_s, self.timeout_s, self.stale_s = interval_s, timeout_s, stale_s
        self.last_answer: float | None = None
        self._admin: AdminClient | None = None
        self._was_reachable = True

    def answered(self, *, at: float | None = None) -> None:
        self.last_answer = time.monotonic() if at is None else at

    def reachable_at(self, now: float) -> bool:
        return self.last_answer is not None and now - self.last_answer <= self.stale_s

    @property
    def reachable(self) -> bool:
        return self.reachable_at(time.monotonic())

    def probe_once(self) -> bool:
        """One metadata request (blocking, at most ``timeout_s``); True when the broker answered."""
        try:
            if self._admin is None:
                self._admin = AdminClient(self.conf)
            self._admin.list_topics(timeout=self.timeout_s)
        except KafkaException:
            return False
        self.answered()
        return True

    async def run(self) -> None:
        """Probe forever, each request in a thread; logs once when the broker goes and once when it is back."""
        while True:
            ok = await asyncio.to_thread(self.probe_once)
            now_reachable = ok or self.reachable
            if now_reachable != self._was_reachable:
                (log.info if now_reachable else log.warning)(
                    "broker.reachable" if now_reachable else "broker.unreachable",
                    bootstrap=self.conf.get("bootstrap.servers"))
                self._was_reachable = now_reachable
            await asyncio.sleep(self.interval_s)
