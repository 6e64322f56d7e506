"""run() and `aiops generate` against a real Tansu broker: what arrives is what was counted and labelled."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.tools.generator.cli import register
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.produce import run
from aiops.pipeline.tools.generator.truth import read_truth

pytestmark = pytest.mark.integration


def consume_all(bootstrap: str, topics: list[str], expected: int, timeout_s: float = 20.0) -> list:
    """Read every message of the topics' two partitions, assigned directly (no group join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "generator-test",
                         "session.timeout.ms": 6000, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(t, p, 0) for t in topics for p in (0, 1)])
    out = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                out.append(msg)
        extra = consumer.consume(num_messages=10, timeout=0.5)
        out += [m for m in extra if m.error() is None]
    finally:
        consumer.close()
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiops")
    register(parser.add_subparsers(dest="command"))
    return parser


class TestRun:
    def test_run_delivers_history_and_live_with_truth(self, tansu_broker, wire, tmp_path):
        """Every produced message arrives keyed by host, parses, and matches the counts and the truth file."""
        metrics, logs = "run.metrics", "run.logs"
        for topic in (metrics, logs):
            tansu_broker.create_topic(topic, partitions=2)
        config = GeneratorConfig(hosts=2, seed=5, period_s=600.0, history_s=10.0, anomaly_rate=40.0, warmup_s=0.0,
                                 metrics_topic=metrics, logs_topic=logs, metric_format="mixed", log_format="mixed")
        truth_path = tmp_path / "truth.jsonl"
        began = time.time()
        counts = asyncio.run(run(config, bootstrap=tansu_broker.bootstrap, duration_s=2.0, rate_multiplier=2.0,
                                 truth_path=truth_path, producer_conf={"linger.ms": 5}))
        ended = time.time()
        assert counts.delivery_errors == 0 and counts.undelivered == 0
        received = consume_all(tansu_broker.bootstrap, [metrics, logs], counts.messages)
        assert len(received) == counts.messages

        points, lines, series, size = 0, 0, set(), 0
        live_times = []
        for msg in received:
            topic = "metrics.raw" if msg.topic() == metrics else "logs.raw"
            _, records = wire(topic, msg.value(), year=datetime.now(timezone.utc).year)
            size += len(msg.value())
            hosts = {r.get("host") or r["tags"]["host"] for r in records}
            assert hosts == {msg.key().decode()}
            if topic == "metrics.raw":
                points += len(records)
                series.update(series_id_for(r["name"], r["tags"]) for r in records)
                live_times += [r["time"] for r in records if r["time"] >= began - 1]
            else:
                lines += len(records)
        assert (points, lines, size) == (counts.points, counts.log_lines, counts.bytes)
        assert series == {f"service|host=node-{h},service={s}" for h in (1, 2) for s in ("api", "db", "cache")}
        # interval 1 s / rate_multiplier 2: 10 s of history, then 2 s of live, both at 0.5 s steps
        assert counts.points == 6 * (20 + 4)
        assert live_times and max(live_times) <= ended

        truth = read_truth(truth_path)
        assert truth and len(truth) == counts.anomalies
        assert all(began - 1 <= r["start"] <= r["end"] <= ended for r in truth)

    def test_cli_generate_exits_zero_and_writes_truth(self, tansu_broker, tmp_path, capsys):
        """`aiops generate` with a settings file sends to its topics and prints the counts."""
        for topic in ("cli.metrics", "cli.logs"):
            tansu_broker.create_topic(topic, partitions=2)
        settings = tmp_path / "aiops.yaml"
        settings.write_text(f"kafka:\n  bootstrap_servers: '{tansu_broker.bootstrap}'\n"
                            "topics:\n  metrics: cli.metrics\n  logs: cli.logs\n")
        truth = tmp_path / "t.jsonl"
        args = _parser().parse_args(["generate", "--config", str(settings), "--hosts", "1", "--duration", "1",
                                     "--history", "5", "--anomaly-rate", "60", "--warmup", "0", "--seed", "3",
                                     "--truth", str(truth)])
        assert args.func(args) == 0
        counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert counts["points"] >= 3 * 6 and counts["messages"] > 0
        received = consume_all(tansu_broker.bootstrap, ["cli.metrics", "cli.logs"], counts["messages"])
        assert len(received) == counts["messages"]
        assert Counter(m.topic() for m in received).keys() == {"cli.metrics", "cli.logs"}
        assert len(read_truth(truth)) == counts["anomalies"]

    def test_unreachable_broker_reports_undelivered(self):
        """Nothing listening: run() returns with the messages counted as undelivered, it does not hang."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            free_port = sock.getsockname()[1]
        config = GeneratorConfig(hosts=1, services=["api"], history_s=3.0, anomaly_rate=0.0)
        counts = asyncio.run(run(config, bootstrap=f"127.0.0.1:{free_port}", duration_s=0.0,
                                 producer_conf={"message.timeout.ms": 500}))
        assert counts.messages > 0 and counts.undelivered + counts.delivery_errors >= counts.messages

    def test_stop_event_ends_live_early(self, tansu_broker, tmp_path):
        """Setting `stop` ends a long run within a tick, with the truth closed at the last tick sent."""
        for topic in ("stop.metrics", "stop.logs"):
            tansu_broker.create_topic(topic, partitions=2)
        config = GeneratorConfig(hosts=1, history_s=0.0, anomaly_rate=120.0, warmup_s=0.0, seed=2,
                                 metrics_topic="stop.metrics", logs_topic="stop.logs")

        async def scenario():
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(1.5, stop.set)
            return await run(config, bootstrap=tansu_broker.bootstrap, duration_s=60.0, stop=stop,
                             truth_path=tmp_path / "t.jsonl")

        began = time.monotonic()
        counts = asyncio.run(scenario())
        assert time.monotonic() - began < 10.0
        assert 3 * 1 <= counts.points <= 3 * 4
        truth = read_truth(tmp_path / "t.jsonl")
        assert len(truth) == counts.anomalies
        assert all(r["end"] <= time.time() for r in truth)


def _generate(*args: str) -> subprocess.Popen:
    aiops = Path(sys.executable).with_name("aiops")
    return subprocess.Popen([str(aiops), "generate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def _live_until(checkpoint: Path, after: float, truth: Path, incidents: int, timeout_s: float = 60.0) -> None:
    """Wait until the run's checkpoint says it sent live ticks past ``after`` and the truth file holds more
    than ``incidents`` records (an incident of this run)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if checkpoint.exists() and truth.exists():
            try:
                live = json.loads(checkpoint.read_text())["last_time"] > after
            except ValueError:
                live = False  # replaced while read
            if live and len(truth.read_text().splitlines()) > incidents:
                return
        time.sleep(0.1)
    raise AssertionError(f"no live tick past {after} and new incident within {timeout_s}s")


class TestForeverAndResume:
    def test_duration_0_runs_until_stopped_and_a_restart_resumes_without_resending_history(
            self, tansu_broker, wire, tmp_path):
        """`--duration 0` goes on until SIGTERM; started again with its checkpoint it sends no history again:
        the event times of both runs follow each other without a repeat or a hole, and incident ids stay unique."""
        metrics, logs = "forever.metrics", "forever.logs"
        for topic in (metrics, logs):
            tansu_broker.create_topic(topic, partitions=2)
        checkpoint, truth = tmp_path / "checkpoint.json", tmp_path / "truth.jsonl"
        args = ["--bootstrap", tansu_broker.bootstrap, "--metrics-topic", metrics, "--logs-topic", logs,
                "--hosts", "1", "--services", "api", "--duration", "0", "--history", "5", "--rate-multiplier", "4",
                "--anomaly-rate", "240", "--warmup", "0", "--format", "influx", "--log-rate", "0",
                "--checkpoint", str(checkpoint), "--truth", str(truth)]
        counts = []
        for _ in range(2):
            began = time.time()
            proc = _generate(*args)
            try:
                # some seconds of live (longer than any --duration given) with an incident of its own
                _live_until(checkpoint, began + 2.0, truth, sum(c["anomalies"] for c in counts))
            finally:
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            counts.append(json.loads(out.strip().splitlines()[-1]))

        received = consume_all(tansu_broker.bootstrap, [metrics], sum(c["points"] for c in counts))
        times = sorted(r["time"] for m in received
                       for r in wire("metrics.raw", m.value(), year=datetime.now(timezone.utc).year)[1])
        assert len(times) == sum(c["points"] for c in counts)
        steps = {round(b - a, 6) for a, b in zip(times, times[1:])}
        assert steps == {0.25}, f"event times repeat or skip: steps {sorted(steps)[:5]}"
        assert times[-1] == pytest.approx(json.loads(checkpoint.read_text())["last_time"], abs=1e-3)
        history_points = 5 / 0.25
        assert counts[0]["points"] > history_points  # history, then live

        records = read_truth(truth)
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)) == counts[0]["anomalies"] + counts[1]["anomalies"]
        assert counts[1]["anomalies"] >= 1
