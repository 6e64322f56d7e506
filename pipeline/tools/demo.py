"""The embedded demo: a broker, a worker, a fleet's traffic with injected anomalies, alerts live.

Everything runs on 127.0.0.1 and stops at the end (``--duration`` or Ctrl-C),
then a summary compares what was found with what was injected. SIGTERM, or
Ctrl-C before live traffic, stops at once; either way the worker's process
group and the broker are gone within 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from aiops.detectors.core.errors import AiopsError
from aiops.detectors.core.progress import progress_bar
from aiops.pipeline.config import load_settings, parse_settings
from aiops.pipeline.tools.child_processes import reap_group, start_group, terminate_group
from aiops.pipeline.tools.embedded_broker import EmbeddedBroker, free_port
from aiops.pipeline.topics import ensure_topics

DEMO_DEFAULTS: dict[str, Any] = {
    "kafka": {"partitions": 2, "group_id": "aiops-demo", "session_timeout_s": 6, "rebalance_timeout_s": 7},
    "worker": {"snapshot_interval_s": 10, "batch_within_s": 0.1, "data_dir": "var/demo/worker"},
    "ingest": {"log_window_s": 10},
    # the replayed history teaches the detectors and raises nothing (see REPLAY_GAP_S)
    "logs": {"learn_only_older_than_s": 10},
    "detection": {"learn_only_older_than_s": 10},
    "logging": {"level": "info", "format": "console"},
}


#: The replayed history ends this long before live traffic starts, so each of its lines is older than
#: ``logs.learn_only_older_than_s`` and ``detection.learn_only_older_than_s`` when the worker reads it:
#: learned from, never alerted on.
REPLAY_GAP_S = 15.0


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Nested dict merge, override wins.

    >>> deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}})
    {'a': {'b': 1, 'c': 3}}
    """
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def demo_settings(bootstrap: str, web_port: int, out: Path, user_config: str | None) -> dict[str, Any]:
    data = deep_merge(DEMO_DEFAULTS, {
        "kafka": {"bootstrap_servers": bootstrap},
        "worker": {"web_port": web_port, "data_dir": str(out / "worker")},
        "alerting": demo_alerting(web_port),
    })
    if user_config:
        with open(user_config) as fh:
            data = deep_merge(data, yaml.safe_load(fh) or {})
    parse_settings(data)  # fail here, naming the key, rather than in the worker
    return data


def demo_alerting(web_port: int) -> dict[str, Any]:
    """Alerts grouped per service on the console; a dry-run restart for error-level alerts."""
    return {
        "api_url": f"http://127.0.0.1:{web_port}",
        "policy": {
            "resolve_after_s": 60,
            "max_age_s": 60,
            "runbook_url": "https://runbooks.example.com/{service}",
            "dashboard_url": "http://localhost:3000/d/aiops-anomalies?var-host={host}",
        },
        "route": {"receiver": "console", "group_by": ["alertname", "service"],
                  "group_wait_s": 5, "group_interval_s": 20, "repeat_interval_s": 3600},
        "receivers": [{"name": "console", "sinks": [{"type": "console"}]}],
        "remediation": {
            "dry_run": True,
            "require_approval": False,
            "allowed_programs": ["/usr/bin/systemctl"],
            "actions": {"restart-service": {
                "type": "command", "argv": ["/usr/bin/systemctl", "restart", "{service}"],
                "target": "{host}", "allowed_targets": ["node-*"]}},
            "policies": [{"name": "restart a service that keeps failing", "matchers": ["kind=point"],
                          "min_severity": "error", "action": "restart-service", "verify_within_s": 120}],
        },
    }


class DemoOperator:
    """What an SRE does during the demo, through the worker's API: a silence, then a verdict."""

    def __init__(self, port: int, say) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.say = say
        self.silence: dict[str, Any] | None = None
        self.feedback: dict[str, Any] | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {os.environ.get('AIOPS_API_TOKEN', '')}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def step(self, elapsed: float, hosts: list[str]) -> None:
        try:
            if self.silence is None and elapsed >= 20 and hosts:
                host = hosts[-1]
                self.silence = self.call("POST", "/api/silences", {
                    "matchers": [f"host={host}"], "duration_s": 3600, "created_by": "demo-sre",
                    "comment": f"{host} is being re-imaged"})
                self.say(f"-- operator: silenced host={host} for 1h (silence {self.silence.get('id')})")
            if self.feedback is None and elapsed >= 40:
                firing = [a for a in self.call("GET", "/api/alerts?status=firing").get("alerts", [])
                          if a.get("labels", {}).get("source") == "metric"]
                if firing:
                    alert = firing[0]
                    self.feedback = self.call("POST", "/api/feedback", {
                        "fingerprint": alert["fingerprint"], "verdict": "false_positive", "who": "demo-sre",
                        "comment": "expected batch job"})
                    self.say(f"-- operator: marked {alert['labels'].get('series_id', alert['fingerprint'])} "
                             "a false positive; future scoring of that series is adjusted")
        except OSError as exc:
            self.say(f"-- operator: the API did not answer ({exc})")

    def muted(self) -> int:
        try:
            alerts = self.call("GET", "/api/alerts").get("alerts", [])
        except OSError:
            return 0
        return sum(1 for a in alerts if a.get("state") == "suppressed")


class AnomalyCollector(threading.Thread):
    """Reads the anomalies topic in the background (from the start, or from its end), each record with the time
    it was read."""

    def __init__(self, bootstrap: str, topic: str, *, group_id: str = "aiops-demo-summary", from_end: bool = False,
                 fetch_wait_ms: int | None = None, poll_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        conf = {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False, "log_level": 3}
        if fetch_wait_ms is not None:
            conf["fetch.wait.max.ms"] = fetch_wait_ms
        self.consumer = Consumer(conf)
        self.consumer.assign([TopicPartition(topic, 0, OFFSET_END if from_end else 0)])
        self.poll_s = poll_s
        self.records: list[dict[str, Any]] = []
        self.received_at: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            msg = self.consumer.poll(self.poll_s)
            if msg is None or msg.error():
                continue
            received = time.time()
            try:
                self.records.append(json.loads(msg.value()))
                self.received_at.append(received)
            except ValueError:
                pass

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.consumer.close()


def wait_healthy(port: int, timeout_s: float, proc: subprocess.Popen) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AiopsError(f"the worker exited with code {proc.returncode} during start-up")
        try:
            return fetch_health(port, timeout_s=1)
        except OSError:
            time.sleep(0.3)
    raise AiopsError(f"the worker did not answer on port {port} within {timeout_s:.0f}s")


def fetch_health(port: int, *, timeout_s: float) -> dict[str, Any]:
    """The worker's /healthz answer (its counters); raises OSError when it does not answer."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as resp:
        return json.loads(resp.read())


def worker_stats(port: int, timeout_s: float = 2.0) -> dict[str, Any]:
    try:
        return fetch_health(port, timeout_s=timeout_s)
    except OSError:
        return {}


def start_worker(config_path: Path, log_path: Path) -> subprocess.Popen:
    """The worker as a child process leading its own group: alerts on our stdout, its own logs to a file.

    A Ctrl-C at the terminal reaches the demo only; the demo stops the worker's whole group.
    """
    with open(log_path, "ab") as log_file:
        return start_group([sys.executable, "-m", "aiops.pipeline.cli", "worker", "--config", str(config_path)],
                           stdout=None, stderr=log_file, stdin=subprocess.DEVNULL)


#: Seconds the worker gets to stop after SIGTERM before its group is killed (it saves its state snapshot
#: first, in well under a second), then the broker after SIGTERM: Tansu waits for its clients to go,
#: and its storage is memory, so nothing is lost in killing it. Together under the 10 s a person waits.
WORKER_GRACE_S = 5.0
BROKER_GRACE_S = 1.0


class DemoInterrupted(Exception):
    """SIGINT or SIGTERM reached the demo: it stops its worker and broker and exits with 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise DemoInterrupted(signum)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`DemoInterrupted` in the main thread while inside; restored after."""
    previous = {s: signal.signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def hold_signals() -> None:
    """From here on SIGINT and SIGTERM no longer interrupt: the stopping under way finishes (it is bounded)."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_demo(args: argparse.Namespace) -> int:
    """The demo; SIGINT or SIGTERM stops it, its worker and its broker within seconds (exit 128 + signal).

    A Ctrl-C during live traffic first prints the summary of what was seen so far.
    """
    with signals_interrupt():
        try:
            return _run_demo(args)
        except DemoInterrupted as exc:
            return 128 + exc.signum


def _run_demo(args: argparse.Namespace) -> int:
    from aiops.pipeline.tools.generator.config import GeneratorConfig
    from aiops.pipeline.tools.generator.evaluate import evaluate
    from aiops.pipeline.tools.generator.produce import TrafficGenerator
    from aiops.pipeline.tools.generator.truth import write_truth

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say = print
    broker = worker = collector = None
    worker_stopping: float | None = None  # when the worker was sent SIGTERM
    try:
        broker = EmbeddedBroker(log_path=out / "broker.log")
        broker.start()  # assigned first: a signal during its start still finds the broker to stop
        web_port = free_port()
        config_path = out / "demo.yaml"
        from aiops.alerting.auth import TOKEN_ENV, secret_file
        from aiops.detectors.core.state_codec import STATE_KEY_ENV

        os.environ[TOKEN_ENV] = secret_file(out / "api-token")  # the worker and the CLI read it
        os.environ[STATE_KEY_ENV] = secret_file(out / "state-key")  # signs the state records
        data = demo_settings(broker.bootstrap, web_port, out, args.config)
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        settings = load_settings(config_path)
        ensure_topics(settings)
        say(f"broker   {broker.bootstrap} (embedded, memory storage)")
        worker = start_worker(config_path, out / "worker.log")
        wait_healthy(web_port, 60, worker)
        say(f"worker   up; metrics on http://127.0.0.1:{web_port}/metrics, logs in {out / 'worker.log'}")
        say(f"api      bearer token in {out / 'api-token'}: export {TOKEN_ENV}=$(cat {out / 'api-token'})")
        collector = AnomalyCollector(broker.bootstrap, settings.topics.anomalies)
        collector.start()

        gen = TrafficGenerator(GeneratorConfig(hosts=args.hosts, services=args.services, seed=args.seed,
                                               period_s=600.0, anomaly_rate=4.0, warmup_s=15.0))
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "log_level": 3})
        start = time.time()
        sent = 0
        history_end = start - REPLAY_GAP_S
        history = list(gen.history(history_end - gen.config.history_s, history_end))
        with progress_bar("replaying history", len(history), unit="messages") as bar:
            for topic, key, value in history:
                producer.produce(topic, key=key, value=value)
                sent += 1
                producer.poll(0)
                bar.advance()
            producer.flush()
        operator = DemoOperator(web_port, say)
        hosts = gen.config.host_names()
        interrupted = False
        live_start = time.time()
        try:  # live from the line that says so: a Ctrl-C once it is printed gets the summary
            say(f"traffic  {sent} messages of history sent ({gen.config.history_s:.0f}s of the fleet's past); "
                f"live traffic for {args.duration:.0f}s with injected anomalies follows")
            live_start = time.time()
            for due, messages in gen.live(live_start):
                operator.step(time.time() - live_start, hosts)
                if due - live_start > args.duration:
                    break
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                for topic, key, value in messages:
                    producer.produce(topic, key=key, value=value)
                producer.poll(0)
        except DemoInterrupted as exc:
            if exc.signum != signal.SIGINT:
                raise  # SIGTERM: stop at once, no summary
            interrupted = True
            say("\ninterrupted: the summary of what was seen, then the worker and the broker stop")
        if interrupted:
            producer.flush(1.0)  # what is still queued may go: the demo is stopping
        else:
            producer.flush()
        end = time.time()
        gen.finish(end)
        if not interrupted:
            time.sleep(3.0)  # let the last batches through the pipeline
        stats = worker_stats(web_port, timeout_s=1.0 if interrupted else 2.0)
        if interrupted:  # the worker stops while the summary is written
            worker_stopping = time.monotonic()
            terminate_group(worker)
        truth = [t for t in gen.truth if t["start"] < end]
        audit = read_topic(broker.bootstrap, settings.topics.audit, timeout_s=1.0 if interrupted else 3.0)
        write_truth(out / "truth.jsonl", truth)
        anomalies = [a for a in collector.records if a.get("time", 0) >= live_start]
        with open(out / "anomalies.jsonl", "w") as fh:
            for a in collector.records:
                fh.write(json.dumps(a) + "\n")
        report = evaluate(truth, anomalies, grace_s=30.0)
        print_summary(say, stats, truth, anomalies, report)
        print_operations(say, operator, stats, audit)
        return 128 + signal.SIGINT if interrupted else 0
    finally:
        hold_signals()
        stop_children(collector, worker, broker, worker_stopping)


def stop_children(collector: AnomalyCollector | None, worker: subprocess.Popen | None,
                  broker: EmbeddedBroker | None, worker_stopping: float | None = None) -> None:
    """The worker's group first (it may still write to the broker), then the broker; each step bounded.

    The worker gets ``WORKER_GRACE_S`` from ``worker_stopping`` (when it was sent SIGTERM; now if None).
    """
    if worker_stopping is None:
        worker_stopping = time.monotonic()
        if worker is not None:
            terminate_group(worker)
    started = worker_stopping
    steps = (collector.stop if collector else None,
             (lambda: reap_group(worker, deadline=started + WORKER_GRACE_S)) if worker else None,
             (lambda: broker.stop(timeout_s=BROKER_GRACE_S)) if broker else None)
    for step in steps:
        if step is None:
            continue
        try:
            step()
        except Exception as exc:  # keep stopping the rest
            print(f"cleanup: {exc!r}", file=sys.stderr)


def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    """Every JSON record of a one-partition topic, from the start."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "aiops-demo-read", "enable.auto.commit": False, "log_level": 3})
    consumer.assign([TopicPartition(topic, 0, 0)])
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            try:
                records.append(json.loads(msg.value()))
            except ValueError:
                pass
    finally:
        consumer.close()
    return records


def print_operations(say, operator: DemoOperator, stats: dict[str, Any], audit: list[dict[str, Any]]) -> None:
    say("")
    say("operations")
    if operator.silence:
        say(f"  silence               {operator.silence.get('id')} on {operator.silence.get('matchers')}; "
            f"alerts muted now: {operator.muted()}")
    if operator.feedback:
        say(f"  feedback              {operator.feedback.get('verdict')} on {operator.feedback.get('series_id')}; "
            f"applied to the series' detectors: {stats.get('feedback_applied', 0)} time(s)")
    events: dict[str, int] = {}
    for record in audit:
        events[record.get("event", "?")] = events.get(record.get("event", "?"), 0) + 1
    say(f"  remediation (dry run) {', '.join(f'{k} {v}' for k, v in sorted(events.items())) or 'no action requested'}")
    for record in audit[:5]:
        detail = record.get("result") or record.get("reason") or ""
        say(f"    {record.get('event')}: {record.get('action')} on {record.get('target')}"
            f"{' (dry run)' if record.get('dry_run') else ''} {detail}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    """
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


#: Series made by counting over windows: their event time is the window's start, not an observation time.
WINDOWED_SERIES = ("logs|", "templates|")


def print_summary(say, stats: dict[str, Any], truth: list[dict], anomalies: list[dict], report) -> None:
    latencies = [a["detected_time"] - a["time"] for a in anomalies
                 if a.get("detected_time") and a.get("source") == "metric"
                 and not a["series_id"].startswith(WINDOWED_SERIES)]
    say("")
    say("=" * 72)
    say("summary")
    say(f"  events in             {stats.get('events_in', '?')} (dead letters {stats.get('dead_letters', '?')}, "
        f"duplicates dropped {stats.get('duplicates', '?')})")
    say(f"  anomalies injected    {len(truth)}")
    say(f"  anomalies raised      {len(anomalies)} (live part)")
    alerts = stats.get("alerts_raised")
    if alerts is not None:
        say(f"  alerts raised         {alerts}")
    say(f"  precision / recall    {report.precision:.2f} / {report.recall:.2f}")
    say(f"  event-to-anomaly      p50 {percentile(latencies, 50):.2f}s  p99 {percentile(latencies, 99):.2f}s "
        f"(metric points, event time to detection, {len(latencies)} anomalies)")
    say("")
    say(report.format())
