"""Consumer lag for /metrics: per partition this worker owns, the records not yet done.

``aiops_consumer_lag{topic, partition}`` is the partition's high watermark
(the offset the next record written will get, as the last fetch saw it)
minus the offset this worker last committed (the next record it has to
process). Partitions are served once both are known: after the first fetch
and the first commit since the worker was assigned them.

>>> from types import SimpleNamespace
>>> from faust.types import TP
>>> tp = TP("events", 1)
>>> consumer = SimpleNamespace(assignment=lambda: {tp}, highwater=lambda tp: 120)
>>> app = SimpleNamespace(consumer=consumer, monitor=SimpleNamespace(tp_committed_offsets={tp: 100}))
>>> partition_lags(app)
[('events', 1, 20)]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)


def partition_lags(app: Any) -> list[tuple[str, int, int]]:
    """(topic, partition, lag) of each assigned partition whose high watermark and commit are known."""
    committed = app.monitor.tp_committed_offsets or {}
    out = []
    for tp in sorted(app.consumer.assignment()):
        high, done = app.consumer.highwater(tp), committed.get(tp)
        if high is not None and done is not None:
            out.append((tp.topic, tp.partition, max(0, high - done)))
    return out


class ConsumerLagCollector(Collector):
    """Reads the lag of a Faust app's consumer when scraped (nothing before the consumer runs)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("aiops_consumer_lag", "Records of an owned partition not yet processed and "
                                   "committed (high watermark minus committed offset)", labels=["topic", "partition"])
        try:
            lags = partition_lags(self.app)
        except Exception as exc:  # a consumer not started yet, or stopping: no lag to tell, the scrape goes on
            log.debug("consumer_lag.unavailable", error=f"{type(exc).__name__}: {exc}")
            lags = []
        for topic, partition, lag in lags:
            family.add_metric([topic, str(partition)], lag)
        yield family
