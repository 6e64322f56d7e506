"""The whole worker against a real broker: produce, detect, dead-letter, restart."""

from __future__ import annotations

import base64
import json
import random
import time

import pytest

from aiops.detectors.core.shapes import series_id_for
from tests.support.kcat import run_kcat

pytestmark = pytest.mark.integration

HOSTS = [f"web-{i}" for i in range(5)]
SPIKED = "web-2"


def clean_value(rng: random.Random) -> float:
    return 50.0 + rng.gauss(0.0, 2.0)


def history_batches(start: float, points: int, *, seed: int = 1, spike_at: int | None = None) -> list[bytes]:
    """Telegraf-style JSON batches: one message per time step holding every host's point."""
    rng = random.Random(seed)
    out = []
    for k in range(points):
        batch = []
        for host in HOSTS:
            value = clean_value(rng)
            if spike_at is not None and k == spike_at and host == SPIKED:
                value = 95.0
            batch.append({"name": "app", "tags": {"host": host}, "fields": {"latency_ms": value},
                          "timestamp": start + k})
        out.append(json.dumps(batch).encode())
    return out


def anomalies_of(broker, topic: str, **kw) -> list[dict]:
    return [json.loads(m.value()) for m in broker.read_all(topic, **kw)]


def test_spike_is_found_and_clean_series_stay_quiet(broker, workers):
    """A 20-sigma spike on one host comes out as an anomaly; the clean hosts raise nothing."""
    cfg = workers.config()
    worker = workers.start(cfg)
    start = time.time() - 600
    broker.produce(cfg["topics"]["metrics"], history_batches(start, 400, spike_at=350))
    worker.wait_for(lambda s: s["points_scored"] >= 400 * len(HOSTS))
    found = anomalies_of(broker, cfg["topics"]["anomalies"], min_count=1)
    spiked_series = series_id_for("app", {"host": SPIKED})
    hits = [a for a in found if a["series_id"] == spiked_series and a["time"] == start + 350]
    assert hits, f"the spike was not reported; anomalies: {[(a['series_id'], a['time'] - start) for a in found]}"
    assert hits[0]["values"]["latency_ms"] == 95.0
    assert hits[0]["contributions"], "an anomaly must say which feature contributed"
    others = [a for a in found if a["series_id"] != spiked_series]
    assert others == [], f"clean series raised anomalies: {[(a['series_id'], a['time'] - start) for a in others]}"


def test_kcat_line_protocol_and_dead_letters(broker, workers):
    """Lines produced by the kcat client are scored; bad ones go to the dead-letter topic with their origin."""
    cfg = workers.config()
    worker = workers.start(cfg)
    start = time.time() - 300
    rng = random.Random(3)
    lines = [
        f"disk,host=db-1,mount=/data used_pct={60 + rng.gauss(0, 1):.3f},iops={500 + int(rng.gauss(0, 20))}i "
        f"{int((start + k) * 1e9)}"
        for k in range(200)
    ]
    bad = ["disk,host=db-1 used_pct=abc 1", "\x00\x01 not a metric"]
    payload = "\n".join(lines[:100] + bad[:1] + lines[100:] + bad[1:]) + "\n"
    proc = run_kcat(["-P", "-b", broker.bootstrap, "-t", cfg["topics"]["metrics"]], input=payload.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    stats = worker.wait_for(lambda s: s["events_in"] >= 200 and s["dead_letters"] >= 2)
    assert stats["events_in"] == 200
    assert stats["ingest_rejected_parse"] == 2
    dead = [json.loads(m.value()) for m in broker.read_all(cfg["topics"]["deadletter"], min_count=2)]
    assert len(dead) == 2
    originals = {base64.b64decode(d["original_b64"]).decode(errors="replace") for d in dead}
    assert originals == set(bad)
    for record in dead:
        assert record["topic"] == cfg["topics"]["metrics"]
        assert isinstance(record["partition"], int) and isinstance(record["offset"], int)
        assert record["reason"]


def test_restart_keeps_detector_state(broker, workers):
    """After a restart the worker restores its series and flags a spike at once, without re-warming."""
    cfg = workers.config()
    first = workers.start(cfg)
    start = time.time() - 900
    broker.produce(cfg["topics"]["metrics"], history_batches(start, 300))
    first.wait_for(lambda s: s["points_scored"] >= 300 * len(HOSTS))
    assert first.stop() == 0
    second = workers.start(cfg)
    stats = second.wait_for(lambda s: s["state_records_loaded"] >= len(HOSTS), timeout_s=60)
    assert stats["state_records_loaded"] >= len(HOSTS)
    # Two more points: a warm detector needs no second warm-up to flag the spike.
    tail = history_batches(start + 300, 3, seed=9, spike_at=1)
    broker.produce(cfg["topics"]["metrics"], tail)
    second.wait_for(lambda s: s["points_scored"] >= 3 * len(HOSTS))
    found = anomalies_of(broker, cfg["topics"]["anomalies"], min_count=1)
    spiked_series = series_id_for("app", {"host": SPIKED})
    assert any(a["series_id"] == spiked_series and a["time"] == start + 301 for a in found), found


def test_logs_become_count_series(broker, workers):
    """Syslog and JSON log lines are normalised and become per-window count series that get scored."""
    cfg = workers.config({"ingest": {"log_window_s": 5}})
    worker = workers.start(cfg)
    now = time.time()
    lines = []
    for k in range(60):
        t = now - 60 + k
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        lines.append(f"<38>1 {stamp}Z gw-1 sshd 411 - - Accepted password for ops from 10.0.0.{k % 9} port 22".encode())
        lines.append(json.dumps({"timestamp": t, "host": "gw-1", "service": "api", "level": "error" if k % 10 == 0
                                 else "info", "message": f"request served in {k} ms"}).encode())
    broker.produce(cfg["topics"]["logs"], lines)
    stats = worker.wait_for(lambda s: s["events_in"] >= 120 and s["points_scored"] > 0)
    assert stats["dead_letters"] == 0
