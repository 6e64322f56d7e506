"""README "Connect your own Kafka": every example payload is read by the real normaliser as the guide says.

The payloads are taken from README.md itself (``<!-- example: NAME -->`` blocks), so the guide cannot
drift from what the worker accepts.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime

import pytest

from aiops.pipeline.config import TopicSettings
from aiops.pipeline.normalise.dispatch import normalise
from aiops.pipeline.normalise.guard import IngestGuard
from tests.support.readme_examples import README, examples

NOW = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC).timestamp()  # just after the examples' own times
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC).timestamp()

# name -> (payload kind, [(series id, labels, time, features)]) for metrics
METRICS = {
    "metrics-json": [
        ("http.latency_ms|host=web-1,service=checkout", {"host": "web-1", "service": "checkout"}, T0,
         {"value": 182.5}),
        ("queue.depth|host=web-1,queue=orders", {"host": "web-1", "queue": "orders"}, T0, {"value": 42.0}),
    ],
    "telegraf-influx": [
        ("cpu|cpu=cpu-total,host=web-1", {"host": "web-1", "cpu": "cpu-total"}, T0,
         {"usage_user": 12.5, "usage_system": 3.1}),
        ("mem|host=web-1", {"host": "web-1"}, T0, {"used_percent": 61.2, "available": 4_120_000_000.0}),
    ],
    "telegraf-json": [
        ("disk|host=db-1,path=/var", {"host": "db-1", "path": "/var"}, T0,
         {"used_percent": 87.5, "inodes_free": 120_000.0}),
    ],
}
# name -> [(series id, labels, time, level, message)] for logs
LOGS = {
    "vector-json": [
        ("log|host=web-1,service=checkout", {"host": "web-1", "service": "checkout"}, T0 + 0.123, "error",
         "upstream timed out after 30s"),
    ],
    "fluentbit-json": [
        ("log|host=node-3,service=payments", {"host": "node-3", "service": "payments"}, T0 + 0.25, "error",
         "payment gateway returned 502"),
    ],
    "rsyslog-lines": [
        ("log|host=web-1,service=sshd", {"host": "web-1", "service": "sshd"}, T0 + 0.123, "info",
         "Failed password for root from 203.0.113.9 port 52222 ssh2"),
        ("log|host=web-1,service=sshd", {"host": "web-1", "service": "sshd"}, T0 + 1.0, "info",
         "Accepted publickey for deploy from 10.0.0.5 port 50000 ssh2"),
    ],
}
NAMED_IN_TEXT = ("metrics-json", "telegraf-influx")
# shipper configuration snippets -> the topic they must write to
SHIPPERS = {"telegraf-conf": "metrics", "vector-conf": "logs", "fluentbit-conf": "logs", "rsyslog-conf": "logs"}


@pytest.fixture(scope="module")
def readme():
    return examples()


def test_every_example_of_the_guide_is_checked(readme):
    """A new example in the Kafka guide needs its expected result here; a removed one is noticed."""
    guide = {name for name in readme if not name.startswith(("alerts-", "webhook-", "plugin-"))}
    assert guide == set(METRICS) | set(LOGS) | set(SHIPPERS)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_payload_becomes_the_series_the_guide_names(readme, name):
    result = normalise("metrics", readme[name].text.encode(), now=NOW, guard=IngestGuard())
    assert result.rejects == [], [r.reason for r in result.rejects]
    got = [(e.series_id, e.labels, e.time, e.features) for e in result.events]
    assert got == METRICS[name]
    if name in NAMED_IN_TEXT:  # and the guide's text names the series it gives
        for series_id, *_ in METRICS[name]:
            assert f"`{series_id}`" in README.read_text(), series_id


@pytest.mark.parametrize("name", sorted(LOGS))
def test_log_payload_becomes_the_log_record_the_guide_describes(readme, name):
    result = normalise("logs", readme[name].text.encode(), now=NOW, guard=IngestGuard())
    assert result.rejects == [], [r.reason for r in result.rejects]
    got = [(e.series_id, e.labels, e.time, e.level, e.message) for e in result.events]
    assert got == LOGS[name]


def test_a_payload_of_the_wrong_kind_is_a_dead_letter_not_a_guess(readme):
    """The guide's topics matter: a syslog line on the metrics topic is refused with the reason."""
    result = normalise("metrics", readme["rsyslog-lines"].text.encode(), now=NOW, guard=IngestGuard())
    assert result.events == [] and len(result.rejects) == 1
    assert result.rejects[0].reason.startswith("not JSON, not line protocol")


@pytest.mark.parametrize("name", sorted(SHIPPERS))
def test_shipper_snippet_writes_to_the_topic_the_worker_reads(readme, name):
    """Each shipper snippet names the default topic of its kind (and the TOML ones parse)."""
    topic = getattr(TopicSettings(), SHIPPERS[name])
    text = readme[name].text
    if readme[name].language == "toml":
        conf = tomllib.loads(text)
        found = conf["outputs"]["kafka"][0]["topic"] if "outputs" in conf else conf["sinks"]["aiops"]["topic"]
        assert found == topic
        codec = conf["sinks"]["aiops"]["encoding"]["codec"] if "sinks" in conf else conf["outputs"]["kafka"][0][
            "data_format"]
        assert codec in ("json", "influx")
    else:
        found = re.findall(r'(?:Topics\s+|topic=")([\w.]+)', text)
        assert found == [topic], found


@pytest.mark.integration
def test_a_worker_reads_every_example_from_kafka(broker, workers, readme):
    """Produced as the shippers would, one record per example, to a real broker: a real worker takes them all."""
    from confluent_kafka import Producer

    config = workers.config({"ingest": {"max_past_s": 10 * 365 * 86400.0}})  # the examples' times are fixed
    worker = workers.start(config)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "zstd", "linger.ms": 20})
    for kind, expected in (("metrics", METRICS), ("logs", LOGS)):
        for name in expected:
            producer.produce(config["topics"][kind], value=readme[name].text.encode())
    assert producer.flush(15) == 0
    points = sum(len(v) for v in METRICS.values())
    events = points + sum(len(v) for v in LOGS.values())
    stats = worker.wait_for(lambda s: s["events_in"] >= events and s["points_scored"] >= points, timeout_s=60)
    assert stats["messages_in"] == len(METRICS) + len(LOGS)
    assert (stats["events_in"], stats["dead_letters"]) == (events, 0)  # log counts are scored points too
