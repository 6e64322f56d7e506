"""The traffic generator: clean history, then live traffic with labelled incidents, to Kafka.

``TrafficGenerator`` is plain and synchronous (usable in-process by the
demo); ``run`` drives it against a broker with a confluent-kafka producer.

>>> gen = TrafficGenerator(GeneratorConfig(hosts=1, services=["api"], seed=1, history_s=0))
>>> msgs = list(gen.history(1_700_000_000.0, 1_700_000_010.0))
>>> sorted({topic for topic, _, _ in msgs}), gen.counts.points, gen.truth
(['logs.raw', 'metrics.raw'], 10, [])
>>> due, batch = next(gen.live(1_700_000_010.0))
>>> due, all(key == b"node-1" for _, key, _ in batch)
(1700000010.0, True)
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import structlog

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.pipeline.tools.generator.anomalies import AnomalySchedule, Injection, LogInjection, MetricInjection
from aiops.pipeline.tools.generator.applogs import AppLogSource, LogLine
from aiops.pipeline.tools.generator.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.fleet import Fleet, rounded
from aiops.pipeline.tools.generator.hostlogs import HostSyslogSource
from aiops.pipeline.tools.generator.messages import Message, MessageBuilder
from aiops.pipeline.tools.generator.truth import append_truth, merge_truth, write_truth

log = structlog.get_logger(__name__)

__all__ = ["GeneratorConfig", "Message", "RunCounts", "TrafficGenerator", "run"]


@dataclass(slots=True)
class RunCounts:
    """What was produced: points, log lines, messages, bytes, incidents; and what failed."""

    points: int = 0
    log_lines: int = 0
    messages: int = 0
    bytes: int = 0
    anomalies: int = 0
    delivery_errors: int = 0
    undelivered: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class TrafficGenerator:
    """Seeded fleet traffic as Kafka messages; ``truth`` lists the incidents injected so far."""

    def __init__(self, config: GeneratorConfig) -> None:
        c = self.config = config
        self.hosts = c.host_names()
        self.fleet = Fleet(self.hosts, c.services, period_s=c.period_s, seed=c.seed)
        self.app_logs = {
            key: AppLogSource(key.host, key.service, rate=c.log_rate,
                              rng=random.Random(f"{c.seed}|applog|{key.host}|{key.service}"))
            for key in self.fleet.series
        }
        self.host_logs = {h: HostSyslogSource(h, rate=c.syslog_rate, rng=random.Random(f"{c.seed}|syslog|{h}"))
                          for h in self.hosts}
        pids = {(k.host, k.service): src.pid for k, src in self.app_logs.items()}
        pids.update({(h, "sshd"): src.pids["sshd"] for h, src in self.host_logs.items()})
        self.schedule = AnomalySchedule(
            series=self.fleet.series, hosts=self.hosts, rate_per_min=c.anomaly_rate, warmup_s=c.warmup_s,
            interval_s=c.interval_s, seed=c.seed, weights=c.kind_weights(), gap_s=c.gap_s, pids=pids,
        )
        self.builder = MessageBuilder(
            metrics_topic=c.metrics_topic, logs_topic=c.logs_topic, metric_format=c.metric_format,
            log_format=c.log_format, syslog_format=c.syslog_format, max_lines=c.max_lines_per_message,
            rng=random.Random(f"{c.seed}|format"),
        )
        self.truth: list[dict[str, Any]] = []
        self.active: list[Injection] = []
        self.counts = RunCounts()
        self.last_time = -math.inf

    def history(self, start: float, end: float) -> Iterator[Message]:
        """Clean traffic for event times in ``[start, end)``, batched up to the message size, no incidents."""
        step = self.config.interval_s
        k = 0
        while (t := start + k * step) < end:
            yield from self._count(self.tick(t, inject=False))
            k += 1
        yield from self._count(self.builder.flush())

    def live(self, start: float) -> Iterator[tuple[float, list[Message]]]:
        """Endless ticks from ``start``: (due time, messages), incidents injected per the schedule."""
        self.schedule.begin(start)
        step = self.config.interval_s
        k = 0
        while True:
            t = start + k * step
            filled = self.tick(t, inject=True)
            yield t, list(self._count(filled + self.builder.flush()))
            k += 1

    def tick(self, t: float, *, inject: bool) -> list[Message]:
        """Advance the simulation to event time ``t``; returns messages that filled up."""
        if t <= self.last_time:
            raise InputError(f"event time {t} is not after the previous tick {self.last_time}")
        self.last_time = t
        span = self.config.interval_s
        if inject:
            for injection in self.schedule.step(t):
                self.active.append(injection)
                self.truth.append(injection.record())
                self.counts.anomalies += 1
                log.info("incident injected", id=injection.id, kind=injection.kind, series_id=injection.series_id)
        out: list[Message] = []
        values = self.fleet.sample(t)
        load = self.fleet.load(t)
        lines: list[LogLine] = []
        changes = {inj.series_id: inj for inj in self.active if isinstance(inj, MetricInjection)}
        for key, clean in values.items():
            point = clean
            inj = changes.get(key.series_id)
            if inj is not None:
                point = inj.apply(point, t, self.fleet.simulators[key].noise_scale())
            out += self.builder.add_point(key, t, rounded(point))
            lines += self.app_logs[key].lines(t, span, load=load, metrics=clean)
        for source in self.host_logs.values():
            lines += source.lines(t, span)
        for inj in self.active:
            if isinstance(inj, LogInjection):
                lines += inj.lines(t, span)
        lines.sort(key=lambda line: line.time)
        for line in lines:
            out += self.builder.add_line(line)
        self.counts.points += len(values)
        self.counts.log_lines += len(lines)
        self.active = [inj for inj in self.active if inj.end >= t]
        return out

    def finish(self, end: float) -> None:
        """The traffic stops at event time ``end``: incidents still running are cut there
        (their truth marked ``truncated`` and recounted), incidents that start later are dropped."""
        running = {inj.id: inj for inj in self.active if inj.end > end and inj.start <= end}
        for inj in running.values():
            inj.truncate(end)
        later = sum(1 for r in self.truth if r["start"] > end)
        self.truth = [running[r["id"]].record() if r["id"] in running else r
                      for r in self.truth if r["start"] <= end]
        self.active = [inj for inj in self.active if inj.start <= end]
        self.counts.anomalies -= later

    def forget_truth(self, before: float) -> None:
        """Drop the truth records of incidents over before ``before`` (written out already): a run may go on
        for ever without holding every incident it ever injected."""
        self.truth = [r for r in self.truth if r["end"] >= before]

    def _count(self, messages: list[Message] | Iterator[Message]) -> Iterator[Message]:
        for message in messages:
            self.counts.messages += 1
            self.counts.bytes += len(message[2])
            yield message


def producer_config(bootstrap: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka settings for throughput (linger, big batches, lz4), overridable by ``extra``.

    >>> producer_config("k:9092", {"linger.ms": 5})["linger.ms"]
    5
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 50,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000,
        "compression.type": "lz4",
        "client.id": "aiops-generator",
    }
    conf.update(extra or {})
    return conf


class _Sender:
    """Wraps a confluent-kafka Producer: waits for room when its queue is full, counts failures."""

    def __init__(self, producer: Any, counts: RunCounts) -> None:
        self.producer = producer
        self.counts = counts

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.counts.delivery_errors += 1
            if self.counts.delivery_errors <= 3:
                log.warning("delivery failed", error=str(err))

    def send(self, message: Message) -> None:
        topic, key, value = message
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)


async def run(
    config: GeneratorConfig,
    *,
    bootstrap: str,
    duration_s: float | None,
    rate_multiplier: float = 1.0,
    history_s: float | None = None,
    truth_path: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    producer_conf: dict[str, Any] | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> RunCounts:
    """Send ``history_s`` of clean past traffic, then ``duration_s`` of live traffic (None: until ``stop``).

    ``rate_multiplier`` sends points that many times as often as
    ``config.interval_s`` (a load knob); ``truth_path`` receives the incidents
    as JSONL while they start, rewritten at the end with truncated windows
    closed. ``checkpoint_path`` (see ``aiops.pipeline.tools.generator.checkpoint``)
    makes a restarted run go on where the last one stopped: no history again,
    only the gap since (at most ``history_s``), and the truth file appended to.
    ``stop`` ends the live part early. Returns the counts.
    """
    from confluent_kafka import KafkaException, Producer

    if rate_multiplier <= 0:
        raise InputError(f"rate_multiplier must be > 0 (got {rate_multiplier})")
    config = config.model_copy(update={"interval_s": config.interval_s / rate_multiplier})
    history_s = config.history_s if history_s is None else history_s
    resumed = read_checkpoint(checkpoint_path) if checkpoint_path is not None else None
    gen = TrafficGenerator(config)
    try:
        producer = Producer(producer_config(bootstrap, producer_conf))
    except KafkaException as exc:
        raise ConfigError(f"invalid producer settings: {exc.args[0].str()}") from None
    sender = _Sender(producer, gen.counts)
    if truth_path is not None and (resumed is None or not Path(truth_path).exists()):
        write_truth(truth_path, [])
    step = config.interval_s
    now = math.floor(clock() / step) * step
    start = now - history_s
    if resumed is not None:
        start = max(start, resumed.last_time + step)
        if resumed.seed == config.seed:
            gen.schedule.resume(resumed.incidents)
        log.info("resuming", after=resumed.last_time, gap_s=max(0.0, now - start), incidents=resumed.incidents)
    for sent, message in enumerate(gen.history(start, now), 1):
        sender.send(message)
        if sent % 500 == 0:
            await asyncio.sleep(0)  # a long history must not starve the other tasks of the loop
    log.info("history sent", seconds=max(0.0, now - start), **gen.counts.as_dict())
    last = max(gen.last_time, resumed.last_time if resumed is not None else -math.inf)  # the last tick sent
    live_start = now if last == -math.inf else max(now, last + step)  # right after the history: no hole
    last = live_start - step if last == -math.inf else last
    noted = _Checkpointer(checkpoint_path, config.seed, clock)
    noted.note(last, gen.schedule.count, force=True)
    ticks = itertools.count() if duration_s is None else range(max(0, math.ceil(duration_s / step - 1e-9)))
    written = 0
    live = gen.live(live_start)
    for k in ticks:
        delay = live_start + k * step - clock()  # a tick is made only once it is due
        if delay > 0:
            await (_wait(stop, delay) if stop is not None else asyncio.sleep(delay))
        else:
            await asyncio.sleep(0)  # late: catch up, but let other tasks run
        if stop is not None and stop.is_set():
            break
        last, messages = next(live)
        for message in messages:
            sender.send(message)
        if truth_path is not None and len(gen.truth) > written:
            append_truth(truth_path, gen.truth[written:])
        gen.forget_truth(before=last)
        written = len(gen.truth)
        noted.note(last, gen.schedule.count)
    gen.finish(last)
    if truth_path is not None:
        merge_truth(truth_path, gen.truth)
    gen.counts.undelivered = await asyncio.to_thread(sender.producer.flush, 30.0)
    noted.note(last, gen.schedule.count, force=True)
    log.info("generator finished", **gen.counts.as_dict())
    return gen.counts


class _Checkpointer:
    """Writes the run's checkpoint at most once a second of wall time (and whenever forced)."""

    def __init__(self, path: str | Path | None, seed: int, clock: Callable[[], float]) -> None:
        self.path = path
        self.seed = seed
        self.clock = clock
        self.written_at = -math.inf

    def note(self, last_time: float, incidents: int, *, force: bool = False) -> None:
        if self.path is None or not math.isfinite(last_time):
            return
        now = self.clock()
        if force or now - self.written_at >= 1.0:
            write_checkpoint(self.path, Checkpoint(last_time=last_time, incidents=incidents, seed=self.seed))
            self.written_at = now


async def _wait(stop: asyncio.Event, delay: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except asyncio.TimeoutError:
        pass
