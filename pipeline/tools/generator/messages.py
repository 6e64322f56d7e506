"""Batching points and lines into Kafka messages, as Telegraf and Vector do.

Each host has three buffers (metrics, application logs, host syslog); a
buffer becomes one message when it holds ``max_lines`` records or when it is
flushed. All records of one message share one format, drawn per message
from the configured mix. The key is the host name.

>>> import random
>>> from aiops.pipeline.tools.generator.fleet import SeriesKey
>>> b = MessageBuilder(metrics_topic="m", logs_topic="l", metric_format="influx", log_format="json",
...                    syslog_format="rfc3164", max_lines=2, rng=random.Random(0))
>>> b.add_point(SeriesKey("node-1", "api"), 1.0, {"cpu": 3.5})
[]
>>> b.flush()
[('m', b'node-1', b'service,host=node-1,service=api cpu=3.5 1000000000')]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiops.pipeline.tools.generator.applogs import LogLine
from aiops.pipeline.tools.generator.encode import (
    join_lines,
    line_protocol,
    rfc3164,
    rfc5424,
    telegraf_batch,
    telegraf_metric,
    vector_record,
)
from aiops.pipeline.tools.generator.fleet import MEASUREMENT, SeriesKey

Message = tuple[str, bytes, bytes]
"""(topic, key, value) of one Kafka message."""


@dataclass(slots=True)
class Point:
    key: SeriesKey
    time: float
    values: dict[str, float]


def _pick(fmt: str, choices: tuple[str, str], rng: random.Random) -> str:
    return choices[rng.random() < 0.5] if fmt == "mixed" else fmt


class MessageBuilder:
    """Turns points and log lines into (topic, key, value) messages."""

    def __init__(
        self,
        *,
        metrics_topic: str,
        logs_topic: str,
        metric_format: str,
        log_format: str,
        syslog_format: str,
        max_lines: int,
        rng: random.Random,
    ) -> None:
        self.metrics_topic = metrics_topic
        self.logs_topic = logs_topic
        self.metric_format = metric_format
        self.log_format = log_format
        self.syslog_format = syslog_format
        self.max_lines = max_lines
        self.rng = rng
        self._points: dict[str, list[Point]] = {}
        self._app: dict[str, list[LogLine]] = {}
        self._syslog: dict[str, list[LogLine]] = {}

    def add_point(self, key: SeriesKey, time: float, values: dict[str, float]) -> list[Message]:
        buf = self._points.setdefault(key.host, [])
        buf.append(Point(key, time, values))
        return [self._metrics_message(key.host, self._take(buf))] if len(buf) >= self.max_lines else []

    def add_line(self, line: LogLine) -> list[Message]:
        buffers = self._syslog if line.host_syslog else self._app
        buf = buffers.setdefault(line.host, [])
        buf.append(line)
        if len(buf) < self.max_lines:
            return []
        return [self._syslog_message(line.host, self._take(buf)) if line.host_syslog
                else self._app_message(line.host, self._take(buf))]

    def flush(self) -> list[Message]:
        """Every buffered record, as messages (hosts in order of first use)."""
        out: list[Message] = []
        for host, points in self._points.items():
            if points:
                out.append(self._metrics_message(host, self._take(points)))
        for host, lines in self._app.items():
            if lines:
                out.append(self._app_message(host, self._take(lines)))
        for host, lines in self._syslog.items():
            if lines:
                out.append(self._syslog_message(host, self._take(lines)))
        return out

    @staticmethod
    def _take(buf: list) -> list:
        items = buf[:]
        buf.clear()
        return items

    def _metrics_message(self, host: str, points: list[Point]) -> Message:
        if _pick(self.metric_format, ("influx", "json"), self.rng) == "json":
            value = telegraf_batch([telegraf_metric(MEASUREMENT, p.key.labels, p.values, p.time) for p in points])
        else:
            value = join_lines([line_protocol(MEASUREMENT, p.key.labels, p.values, p.time) for p in points])
        return (self.metrics_topic, host.encode(), value)

    def _app_message(self, host: str, lines: list[LogLine]) -> Message:
        if _pick(self.log_format, ("json", "syslog"), self.rng) == "syslog":
            return self._syslog_message(host, lines)
        value = join_lines([vector_record(x.time, x.host, x.service, x.level, x.message) for x in lines])
        return (self.logs_topic, host.encode(), value)

    def _syslog_message(self, host: str, lines: list[LogLine]) -> Message:
        encode = rfc3164 if _pick(self.syslog_format, ("rfc5424", "rfc3164"), self.rng) == "rfc3164" else rfc5424
        value = join_lines([encode(x.time, x.host, x.service, x.pid, x.message,
                                   facility=x.facility, severity=x.severity) for x in lines])
        return (self.logs_topic, host.encode(), value)
