"""A real worker reading a forged state topic: no code runs, the worker keeps working, the rejects are counted."""

from __future__ import annotations

import pickle
import time

import pytest
from confluent_kafka import Producer

from aiops.detectors.core import state_codec
from aiops.pipeline.stages import state_series_id
from aiops.pipeline.topics import partition_for
from tests.integration.test_pipeline_e2e import history_batches
from tests.security.test_state_records import _WritesAFile

pytestmark = pytest.mark.integration


def test_forged_records_write_nothing_and_the_worker_scores_on(broker, workers, tmp_path, monkeypatch):
    monkeypatch.setenv("AIOPS_STATE_KEY", "state-key-for-this-test-0123")
    cfg = workers.config()
    target = tmp_path / "written-by-the-state-topic"
    payload = pickle.dumps(_WritesAFile(str(target)))
    forged = {
        "engine/app|host=web-1": payload,                                               # today's format
        "logwin/app|host=web-2": state_codec.seal("logwin/app|host=web-2", payload, None),  # unsigned
        "alerting/policy": state_codec.seal("alerting/policy", payload, b"a guessed key"),   # forged signature
        "engine/app|host=web-3": state_codec.seal("engine/app|host=web-3",                  # signed, body not a state
                                                  b"AIOS\x01" + b"\x00" * 10, b"state-key-for-this-test-0123"),
    }
    parts = cfg["kafka"]["partitions"]
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for key, value in forged.items():
        producer.produce(cfg["topics"]["state"], key=key.encode(), value=value,
                         partition=partition_for(state_series_id(key), parts))
    assert producer.flush(15) == 0
    worker = workers.start(cfg)
    stats = worker.wait_for(lambda s: s["state_records_rejected"] >= len(forged), timeout_s=90)
    assert stats["state_records_rejected"] == len(forged)
    assert not target.exists()
    broker.produce(cfg["topics"]["metrics"], history_batches(time.time() - 300, 60))
    stats = worker.wait_for(lambda s: s["points_scored"] >= 300, timeout_s=60)
    assert worker.proc.poll() is None
    logs = worker.logs()
    assert logs.count('"state.rejected"') == len(forged) and "signature does not match" in logs


def test_ready_and_health_are_public_and_nothing_else_is(broker, workers):
    """On a real worker: /healthz and /ready answer without a token, /metrics and the API do not."""
    import urllib.error
    import urllib.request

    worker = workers.start(workers.config())
    worker.wait_for(lambda s: True)
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline and status != 200:
        try:
            status = urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/ready", timeout=2).status
        except urllib.error.HTTPError as exc:
            status = exc.code
            time.sleep(0.5)
    assert status == 200
    for path in ("/metrics", "/api/alerts", "/api/actions"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=2)
        assert refused.value.code == 401
