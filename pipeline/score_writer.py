"""The worker's score output: every scored point to InfluxDB 2, batched, off the scoring path.

The scoring stage hands each scored batch to ``ScoreWriter.offer`` (a list
append under a lock, from the scoring thread); ``run``, a task of the
worker, turns what was offered into line protocol (``aiops.alerting.sinks.influx_lines``)
off the event loop and writes it with influxdb-client's async write API.
The buffer is bounded (``max_buffer`` scored points): when InfluxDB is slow
or down, points beyond it are dropped and counted, never held without bound,
and a batch whose write fails is dropped and counted too (the scores are
not the source of truth: alerts are, and they go through the alert sinks).

Its counters are served on /metrics: ``aiops_score_output_written_total``
(scored points written), ``aiops_score_output_dropped_total{reason}``
(``buffer_full``, ``write_failed``) and the gauge
``aiops_score_output_buffered``.

>>> w = ScoreWriter(ScoreOutputSettings(enabled=True, max_buffer=2))
>>> w.offer(["e1", "e2", "e3"], ["s1", "s2", "s3"])
>>> w.buffered, w.dropped["buffer_full"]
(2, 1)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from aiops.alerting.sinks.influx_lines import LineEncoder

log = structlog.get_logger(__name__)

DROP_REASONS = ("buffer_full", "write_failed")


class ScoreOutputSettings(BaseModel):
    """The ``score_output`` section: where the worker writes its scored points (off unless enabled)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="write every scored point to InfluxDB 2")
    url: str = Field("http://127.0.0.1:8086", description="InfluxDB 2 (or any server of its /api/v2/write)")
    org: str = Field("aiops", description="organisation")
    bucket: str = Field("aiops", description="bucket written to")
    token: SecretStr = Field(SecretStr(""), description="API token: ${NAME} in the file, read from the environment")
    detectors: bool = Field(True, description="write each detector's calibrated score as a field detector_<name>")
    batch_points: int = Field(1000, ge=1, le=20_000, description="scored points per write request at most")
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="how often what was scored is written")
    max_buffer: int = Field(100_000, ge=1, description="scored points held while waiting; beyond, dropped and counted")
    timeout_s: float = Field(10.0, gt=0, description="longest wait for one write")
    retry_after_s: float = Field(5.0, ge=0, description="pause after a failed write before the next one")


class ScoreWriter:
    """A bounded buffer of scored points and the task that writes them (see the module's docstring)."""

    def __init__(self, settings: ScoreOutputSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._events: list[Any] = []
        self._scores: list[Any] = []
        self.written = 0
        self.lines_written = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self._client: Any = None
        self._failures_logged_at = 0.0
        self.encoder = LineEncoder(detectors=settings.detectors)

    @property
    def buffered(self) -> int:
        return len(self._events)

    def offer(self, events: Sequence[Any], scores: Sequence[Any]) -> None:
        """Queue a scored batch (called from the scoring thread); what does not fit is dropped and counted."""
        with self._lock:
            room = self.settings.max_buffer - len(self._events)
            if room < len(events):
                self.dropped["buffer_full"] += len(events) - max(room, 0)
                events, scores = events[:max(room, 0)], scores[:max(room, 0)]
            self._events.extend(events)
            self._scores.extend(scores)

    def take(self) -> list[tuple[Any, Any]]:
        """Everything queued so far, in order; the buffer is empty afterwards."""
        with self._lock:
            events, scores = self._events, self._scores
            self._events, self._scores = [], []
        return list(zip(events, scores))

    async def run(self) -> None:
        """Write what was offered every ``flush_interval_s``, until cancelled."""
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            if not await self.flush():
                await asyncio.sleep(self.settings.retry_after_s)

    async def flush(self) -> bool:
        """Write everything queued now; False if a write failed (the points not written are dropped and counted)."""
        points = self.take()
        step = self.settings.batch_points
        for start in range(0, len(points), step):
            chunk = points[start:start + step]
            lines = await asyncio.to_thread(self.encoder.batch, chunk)
            try:
                await self._write(lines)
            except Exception as exc:  # any failure of the server or the network: drop, count, go on
                self.dropped["write_failed"] += len(points) - start
                self._log_failure(exc, len(points) - start)
                return False
            self.written += len(chunk)
            self.lines_written += len(lines)
        return True

    async def _write(self, lines: list[str]) -> None:
        if self._client is None:
            from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

            s = self.settings
            self._client = InfluxDBClientAsync(url=s.url, token=s.token.get_secret_value(), org=s.org,
                                               timeout=int(s.timeout_s * 1000))
        await self._client.write_api().write(bucket=self.settings.bucket, org=self.settings.org, record=lines)

    def _log_failure(self, exc: Exception, points: int) -> None:
        now = time.monotonic()
        if now - self._failures_logged_at >= 60.0:  # once a minute while the server stays away
            self._failures_logged_at = now
            reason = getattr(exc, "reason", None) or type(exc).__name__
            log.warning("score_output.write_failed", url=self.settings.url, points=points,
                        status=getattr(exc, "status", None), reason=str(reason),
                        dropped_total=self.dropped["write_failed"])

    async def close(self) -> None:
        """Write what is left (bounded by ``timeout_s``), then close the client."""
        try:
            await asyncio.wait_for(self.flush(), timeout=self.settings.timeout_s)
        except asyncio.TimeoutError:
            log.warning("score_output.final_flush_timed_out")
        if self._client is not None:
            await self._client.close()
            self._client = None

    def collector(self) -> Collector:
        """The writer's counters for /metrics."""
        return _ScoreOutputCollector(self)


class _ScoreOutputCollector(Collector):
    def __init__(self, writer: ScoreWriter) -> None:
        self.writer = writer

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        w = self.writer
        yield CounterMetricFamily("aiops_score_output_written", "Scored points written to InfluxDB",
                                  value=w.written)
        dropped = CounterMetricFamily("aiops_score_output_dropped",
                                      "Scored points not written to InfluxDB, per reason", labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], w.dropped[reason])
        yield dropped
        yield GaugeMetricFamily("aiops_score_output_buffered", "Scored points waiting to be written to InfluxDB",
                                value=w.buffered)


def score_writer_for(settings: ScoreOutputSettings, registry: Any = None) -> ScoreWriter | None:
    """The worker's writer when ``score_output.enabled``, its counters in ``registry``; None otherwise."""
    if not settings.enabled:
        return None
    writer = ScoreWriter(settings)
    if registry is not None:
        registry.register(writer.collector())
    log.info("score_output.enabled", url=settings.url, bucket=settings.bucket, org=settings.org)
    return writer
