"""The worker's own metrics, in a registry of its own, rendered as Prometheus text for /metrics.

Counters the worker already keeps (``WorkerStats``, the ingest guard, the
alerting runtime, the sinks' delivery) are read at scrape time; what has no
home elsewhere (records per topic, dead letters per stage, series tracked,
the ingest-to-score latency) is counted here.

>>> from aiops.pipeline.stats import WorkerStats
>>> m = WorkerMetrics(WorkerStats())
>>> m.messages_in("metrics.raw", 3)
>>> m.observe_latency([0.004, 0.2, 7.0])
>>> text = m.render().decode()
>>> 'aiops_messages_in_total{topic="metrics.raw"} 3.0' in text
True
>>> 'aiops_ingest_to_score_latency_seconds_count 3.0' in text
True
>>> import numpy as np
>>> from aiops.detectors.tally import DetectorTally
>>> tally = DetectorTally()
>>> tally.add(["zscore", "hst"], np.array([[0.95, 0.2]]), threshold=np.array([0.9]), alert=np.array([True]))
>>> text = WorkerMetrics(WorkerStats(), detectors=lambda: tally).render().decode()
>>> 'aiops_detector_flagged_points_total{detector="zscore"} 1.0' in text
True
>>> 'aiops_detector_episodes_opened_total{detector="zscore"} 1.0' in text
True
>>> 'aiops_detector_flagged_points_total{detector="hst"} 0.0' in text
True
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from aiops.detectors.tally import DetectorTally
from aiops.pipeline.stats import WorkerStats

#: The exposition ``render`` writes: the text format every Prometheus reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: Seconds from a point's ingest to its score: the hot path is ~0.1 s through one broker.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: ``WorkerStats`` fields served with labels by ``WorkerMetrics`` itself, so not again from the dataclass.
_LABELLED = {"messages_in", "events_in", "dead_letters"}

#: ``WorkerStats`` fields of the last restore, in milliseconds: served as gauges in seconds, not as counters.
_RESTORE_GAUGES = {
    "last_restore_ms": "Seconds the last restore of assigned partitions took, from reading to the last record applied",
    "last_restore_read_ms": "Seconds the last restore spent reading the state topic to its end (applying meanwhile)",
    "last_restore_apply_ms": "Seconds the last restore spent checking and applying state records (mostly while reading)",
    "last_restore_cpu_ms": "CPU seconds of the worker process (every thread) during the last restore",
}

#: Metric name -> the alerting runtime's attribute.
_ALERTING = {"anomalies_received": "received", "anomalies_stale": "stale", "alerts_raised": "alerts_raised",
             "notifications": "notifications"}

_HELP = {
    "points_scored": "Points (metric and log-window events) scored by the detectors",
    "anomalies": "Anomalies the scoring stage sent on the anomalies topic",
    "duplicates": "Points dropped as duplicates before scoring",
    "state_records_saved": "Per-series state records written to the state topic",
    "state_records_loaded": "Per-series state records restored from the state topic",
    "state_records_rejected": "State records refused (bad envelope, signature or body)",
    "feedback_applied": "Feedback items (false/true positive) applied to detector state",
    "records_held": "Records of batches that failed for a reason not their own, left uncommitted",
    "anomalies_received": "Anomalies the alert policy received",
    "anomalies_stale": "Anomalies the alert policy dropped as too old",
    "alerts_raised": "Alerts the policy raised",
    "notifications": "Notifications handed to sinks",
}


class WorkerMetrics:
    """One worker's metrics registry: labelled counters, gauges and the scrape-time collectors."""

    def __init__(self, stats: WorkerStats, *, guard_stats: Callable[[], dict[str, int]] | None = None,
                 alerting: Callable[[], Any] | None = None,
                 detectors: Callable[[], DetectorTally | None] | None = None) -> None:
        disable_created_metrics()  # a *_created gauge per counter is noise for a scraper that has the counter
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self._messages_in = Counter("aiops_messages_in", "Kafka records read, per topic", ["topic"], registry=r)
        self._events_in = Counter("aiops_events_in", "Events normalised from raw records, per topic", ["topic"],
                                  registry=r)
        self._records_out = Counter("aiops_records_out", "Kafka records this worker wrote, per topic", ["topic"],
                                    registry=r)
        self._dead_letters = Counter("aiops_dead_letters", "Records sent to the dead-letter topic, per stage",
                                     ["stage"], registry=r)
        self.series_tracked = Gauge("aiops_series_tracked", "Series whose detector state this worker holds",
                                    registry=r)
        self.latency = BatchHistogram("aiops_ingest_to_score_latency_seconds",
                                      "Seconds from a point's ingest by the normaliser to its score", LATENCY_BUCKETS)
        r.register(self.latency)
        self.alert_latency = BatchHistogram("aiops_ingest_to_alert_latency_seconds",
                                            "Seconds from the ingest of an anomalous point to the alert "
                                            "policy receiving it", LATENCY_BUCKETS)
        r.register(self.alert_latency)
        self.state_bytes = Counter("aiops_state_written_bytes", "Bytes of per-series state records written to "
                                   "the state topic", registry=r)
        self.restore_pending = Gauge("aiops_restore_partitions_pending", "Partitions assigned whose state is "
                                     "still being restored", registry=r)
        r.register(_StatsCollector(stats, guard_stats or dict, alerting or (lambda: None)))
        r.register(_DetectorCollector(detectors or (lambda: None)))

    def messages_in(self, topic: str, n: int) -> None:
        self._messages_in.labels(topic).inc(n)

    def events_in(self, topic: str, n: int) -> None:
        self._events_in.labels(topic).inc(n)

    def records_out(self, topic: str, n: int = 1) -> None:
        self._records_out.labels(topic).inc(n)

    def dead_letter(self, stage: str) -> None:
        self._dead_letters.labels(stage).inc()

    def observe_latency(self, seconds: Iterable[float]) -> None:
        self.latency.observe_many(seconds)

    def observe_ingest_latency(self, ingest_times: Iterable[float], *, now: float) -> None:
        """Ingest-to-score latency of a scored batch's points from their ingest times (0: unknown, left out).

        A batch holds a few distinct ingest times (one a normalised slice): each is observed once, with its count.
        """
        self.latency.observe_counts({now - t: n for t, n in Tally(ingest_times).items() if t > 0})

    def observe_alert_latency(self, seconds: Iterable[float]) -> None:
        self.alert_latency.observe_many(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of every metric."""
        return generate_latest(self.registry)


class BatchHistogram(Collector):
    """A histogram fed a batch at a time (a scored batch's latencies), without a lock per observation.

    >>> h = BatchHistogram("x_seconds", "x", (0.1, 1.0))
    >>> h.observe_many([0.05, 0.5, 0.5, 3.0])
    >>> [(s.name, s.labels.get("le"), s.value) for s in next(iter(h.collect())).samples][:3]
    [('x_seconds_bucket', '0.1', 1), ('x_seconds_bucket', '1.0', 3), ('x_seconds_bucket', '+Inf', 4)]
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds = self.counts, self.bounds
        for v in values:
            counts[bisect_left(bounds, v)] += 1
            self.total += v

    def observe_counts(self, values: Mapping[float, int]) -> None:
        """Each value observed as many times as its count.

        >>> h = BatchHistogram("x", "doc", (0.1, 1.0))
        >>> h.observe_counts({0.05: 3, 2.0: 1}); h.counts, h.total
        ([3, 0, 1], 2.15)
        """
        counts, bounds = self.counts, self.bounds
        for v, n in values.items():
            counts[bisect_left(bounds, v)] += n
            self.total += v * n

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, buckets = 0, []
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts):
            cumulative += n
            buckets.append((bound, cumulative))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], buckets, self.total)
        yield family


class _DetectorCollector(Collector):
    """Per detector, what the engine tallied (``aiops.detectors.tally``), read when scraped."""

    def __init__(self, tally: Callable[[], DetectorTally | None]) -> None:
        self.tally = tally

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        tally = self.tally()
        if tally is None:
            return
        flagged = CounterMetricFamily("aiops_detector_flagged_points", "Points a detector's calibrated score put at "
                                      "or over the threshold, per detector", labels=["detector"])
        opened = CounterMetricFamily("aiops_detector_episodes_opened", "Episodes opened on a point the detector "
                                     "flagged, per detector", labels=["detector"])
        mean = GaugeMetricFamily("aiops_detector_score_mean", "Each detector's calibrated score averaged over about "
                                 "the last 10,000 points (its drift shows here)", labels=["detector"])
        for name in sorted(tally.flagged):
            flagged.add_metric([name], tally.flagged[name])
            opened.add_metric([name], tally.opened[name])
            mean.add_metric([name], tally.mean[name])
        yield flagged
        yield opened
        yield mean


class _StatsCollector(Collector):
    """The counters kept elsewhere, read when scraped."""

    def __init__(self, stats: WorkerStats, guard_stats: Callable[[], dict[str, int]],
                 alerting: Callable[[], Any]) -> None:
        self.stats = stats
        self.guard_stats = guard_stats
        self.alerting = alerting

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for name, value in self.stats.as_dict().items():
            if name in _RESTORE_GAUGES:
                yield GaugeMetricFamily(f"aiops_{name.removesuffix('_ms')}_seconds", _RESTORE_GAUGES[name],
                                        value=value / 1000)
            elif name not in _LABELLED:
                yield _counter(name, _HELP.get(name, name.replace("_", " ")), value)
        yield from _ingest_families(self.guard_stats())
        alerting = self.alerting()
        if alerting is not None:
            for name, attr in _ALERTING.items():
                yield _counter(name, _HELP[name], getattr(alerting, attr))
            yield from _sink_families(alerting.delivery.metrics().get("sinks", {}))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"aiops_{name}", documentation, value=value)


def _ingest_families(guard: dict[str, int]) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    yield _counter("ingest_accepted", "Events the ingest guard accepted", guard.get("accepted", 0))
    yield _counter("ingest_duplicates", "Events the ingest guard dropped as seen before", guard.get("duplicates", 0))
    yield _counter("ingest_refused_series", "Events refused because the series cap was reached",
                   guard.get("refused_series", 0))
    yield GaugeMetricFamily("aiops_ingest_series_seen", "Distinct series the ingest guard has seen",
                            value=guard.get("series_seen", 0))
    rejected = CounterMetricFamily("aiops_ingest_rejected", "Dead-letter records of ingest, per reason (one payload with nothing good is one record)",
                                   labels=["reason"])
    for key, value in sorted(guard.items()):
        if key.startswith("rejected_"):
            rejected.add_metric([key.removeprefix("rejected_")], value)
    yield rejected


def _sink_families(sinks: dict[str, dict[str, Any]]) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    outcomes = CounterMetricFamily("aiops_sink_deliveries", "Alert deliveries per sink and outcome",
                                   labels=["sink", "outcome"])
    opened = CounterMetricFamily("aiops_sink_breaker_opened", "Times the sink's circuit breaker opened",
                                 labels=["sink"])
    state = GaugeMetricFamily("aiops_sink_breaker_state", "1 for the state the sink's circuit breaker is in",
                              labels=["sink", "state"])
    for sink, counters in sorted(sinks.items()):
        for outcome in ("sent", "retried", "dead_lettered", "duplicates"):
            outcomes.add_metric([sink, outcome], counters.get(outcome, 0))
        opened.add_metric([sink], counters.get("breaker_opened", 0))
        for s in ("closed", "open", "half_open"):
            state.add_metric([sink, s], 1.0 if counters.get("breaker") == s else 0.0)
    yield from (outcomes, opened, state)
