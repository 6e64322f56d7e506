"""The worker's alerting path and its configuration reload, against a real broker and a real HTTP receiver."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml

from aiops.detectors.core.shapes import series_id_for
from tests.integration.test_pipeline_e2e import SPIKED, history_batches
from tests.support.api_tokens import auth, config_tokens
from tests.support.webhook_receiver import SignedWebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "receiver-shared-secret"


class Receiver(SignedWebhookReceiver):
    """A webhook receiver on loopback that keeps every verified notification."""

    def __init__(self) -> None:
        super().__init__(SECRET)

    def wait_for(self, predicate, timeout_s: float = 60.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hits = [n for n in self.received if predicate(n)]
            if hits:
                return hits
            time.sleep(0.2)
        raise AssertionError(f"no matching notification in {timeout_s}s; got {self.received}")



@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def alerting_config(receiver: Receiver) -> dict:
    return {
        "route": {"receiver": "hook", "group_by": ["alertname", "series_id"], "group_wait_s": 0,
                  "group_interval_s": 5},
        "receivers": [{"name": "hook", "sinks": [{"type": "webhook", "url": receiver.url, "secret": SECRET}]}],
        "api": {"tokens": config_tokens("sre")},
    }


def post(port: int, path: str, body: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **auth("sre")})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_spike_pages_the_webhook_and_feedback_reaches_the_detectors(broker, workers, receiver):
    """An anomaly becomes a signed notification; a false-positive verdict travels back to the series' detectors."""
    cfg = workers.config({"alerting": alerting_config(receiver)})
    worker = workers.start(cfg)
    start = time.time() - 400
    broker.produce(cfg["topics"]["metrics"], history_batches(start, 380, spike_at=350))
    spiked = series_id_for("app", {"host": SPIKED})
    hits = receiver.wait_for(lambda n: any(a["labels"].get("series_id") == spiked for a in n["alerts"]))
    alert = next(a for a in hits[0]["alerts"] if a["labels"]["series_id"] == spiked)
    assert hits[0]["status"] == "firing"
    assert "latency_ms" in alert["annotations"]["description"]
    assert receiver.bad_signatures == 0

    fingerprint = alert["fingerprint"]
    record = post(worker.port, "/api/feedback", {"fingerprint": fingerprint, "verdict": "false_positive",
                                                 "who": "sre@example.com", "comment": "load test"})
    assert record["series_id"] == spiked
    stats = worker.wait_for(lambda s: s["feedback_applied"] >= 1)
    assert stats["feedback_applied"] >= 1
    feedback = broker.read_all(cfg["topics"]["feedback"], min_count=1)
    assert json.loads(feedback[0].value())["verdict"] == "false_positive"


def test_configuration_reloads_without_restart_and_bad_files_are_refused(broker, workers):
    """A changed detection section is applied in place with its new hash; an invalid file keeps the old one."""
    cfg = workers.config()
    worker = workers.start(cfg)
    before = worker.logs().count('"config.applied"')
    changed = dict(cfg, detection={"threshold": 0.9999})
    time.sleep(1.1)  # a new modification time
    worker.config_path.write_text(yaml.safe_dump(changed))
    deadline = time.monotonic() + 30
    while worker.logs().count('"config.applied"') == before and time.monotonic() < deadline:
        time.sleep(0.3)
    applied = [json.loads(line) for line in worker.logs().splitlines() if '"config.applied"' in line]
    assert len(applied) == before + 1
    assert applied[-1]["hash"] != applied[0]["hash"]

    time.sleep(1.1)
    worker.config_path.write_text("detection: {threshold: 7}\n")
    deadline = time.monotonic() + 30
    while '"config.rejected"' not in worker.logs() and time.monotonic() < deadline:
        time.sleep(0.3)
    rejected = [json.loads(line) for line in worker.logs().splitlines() if '"config.rejected"' in line]
    assert rejected and "detection.threshold" in rejected[0]["error"]
    assert worker.proc.poll() is None, "a bad file must not stop the worker"
    assert worker.health()["status"] == "ok"


def test_feedback_for_a_series_the_worker_does_not_know_is_a_dead_letter_and_scoring_goes_on(broker, workers):
    """A verdict on an unknown series is a dead letter of stage feedback with its reason; the score agent goes on."""
    from confluent_kafka import Producer

    cfg = workers.config()
    worker = workers.start(cfg)
    unknown = series_id_for("app", {"host": "never-seen"})
    record = {"id": "f1", "fingerprint": "fp-unknown", "series_id": unknown, "anomaly_ids": ["a1"],
              "anomaly_times": [time.time() - 10], "verdict": "false_positive", "who": "sre@example.com",
              "when": time.time()}
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(cfg["topics"]["feedback"], key=unknown.encode(), value=json.dumps(record).encode())
    assert producer.flush(15) == 0
    dead = [json.loads(m.value()) for m in broker.read_all(cfg["topics"]["deadletter"], min_count=1,
                                                               timeout_s=60)]
    assert [d["stage"] for d in dead] == ["feedback"]
    assert "unknown series" in dead[0]["reason"] and unknown in dead[0]["reason"]
    assert dead[0]["topic"] == cfg["topics"]["events"]

    start = time.time() - 200
    broker.produce(cfg["topics"]["metrics"], history_batches(start, 40))
    stats = worker.wait_for(lambda s: s["points_scored"] >= 40, timeout_s=60)
    assert stats["records_held"] == 0 and stats["feedback_applied"] == 0
    assert worker.proc.poll() is None and worker.health()["status"] == "ok"


def get(port: int, path: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=auth("sre"))
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def wait_log(worker, needle: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in worker.logs():
        assert time.monotonic() < deadline, f"no {needle} in the worker's log:\n{worker.logs()[-3000:]}"
        assert worker.proc.poll() is None, worker.logs()[-3000:]
        time.sleep(0.2)


def test_silences_survive_a_restart_whose_restore_outlasts_the_snapshot_interval(broker, workers, receiver):
    """A restore slowed by many state records, with a snapshot due every 0.3 s: the silence is kept."""
    from confluent_kafka import Producer

    cfg = workers.config({"alerting": alerting_config(receiver), "worker": {"snapshot_interval_s": 0.3}})
    first = workers.start(cfg)
    wait_log(first, '"state.restored"')
    silence = post(first.port, "/api/silences", {"matchers": ["host=web-1"],
                                                  "duration_s": 3600, "comment": "maintenance"})
    time.sleep(1.5)  # snapshots taken with the silence
    assert first.stop() == 0

    # Many tombstones on every state partition: the next restore reads for a while.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    for k in range(300_000):
        producer.produce(cfg["topics"]["state"], key=b"scorer/slow-%d" % k, value=None,
                         partition=k % cfg["kafka"]["partitions"])
        if k % 50_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0

    for _ in range(2):  # the second restart reads what the first wrote during and after its restore
        worker = workers.start(cfg)
        wait_log(worker, '"state.restored"')
        ids = [s["id"] for s in get(worker.port, "/api/silences")["silences"]]
        assert silence["id"] in ids, worker.logs()[-3000:]
        time.sleep(1.0)
        assert worker.stop() == 0
