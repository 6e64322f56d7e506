"""Plugins through the real pipeline: a worker process that sees an installed plugin package reads the plugin's
input format, scores with the plugin's detector bank and raises the plugin log detector's finding."""

from __future__ import annotations

import json
import random
import time

import pytest

from aiops.detectors.core.shapes import series_id_for
from tests.plugins.sample_plugins import install_samples, samples_active

pytestmark = pytest.mark.integration

POINTS = 300
SPIKE_AT = 260


def csv_lines(start: float) -> list[bytes]:
    """``name,value,timestamp`` lines of one series, ten per message, with one spike."""
    rng = random.Random(5)
    values = [50.0 + rng.gauss(0.0, 1.0) for _ in range(POINTS)]
    values[SPIKE_AT] = 400.0
    lines = [f"checkout.latency,{v:.3f},{start + k:.0f}" for k, v in enumerate(values)]
    return ["\n".join(lines[i:i + 10]).encode() for i in range(0, POINTS, 10)]


def log_lines(start: float) -> list[bytes]:
    messages = [f"order {k} shipped to depot {k % 4}" for k in range(30)] + ["reactor meltdown in sector 7"]
    return [json.dumps({"timestamp": start + k, "host": "plant-1", "service": "core", "level": "info",
                        "message": m}).encode() for k, m in enumerate(messages)]


def test_plugin_format_detector_and_log_detector_in_a_worker(broker, workers, tmp_path):
    """CSV lines are parsed by the plugin format and scored by the plugin bank alone, whose score flags the spike;
    a bad CSV line is dead-lettered with the format's reason; the plugin log detector's finding is raised."""
    site = install_samples(tmp_path)
    with samples_active(site):  # the test process validates the config too, as the worker will
        cfg = workers.config({
            "ingest": {"formats": {"metrics": {"type": "csv", "params": {"labels": {"host": "shop-1"}}}}},
            "detection": {"detectors": [{"type": "level", "params": {"scale": 1.0}}]},
            "logs": {"detectors": {"keyword": {"words": ["meltdown"]}}},
        })
    worker = workers.start(cfg, env={"PYTHONPATH": str(site)})
    start = float(int(time.time()) - 900)
    broker.produce(cfg["topics"]["metrics"], [*csv_lines(start), b"checkout.latency,slow," + str(start).encode()])
    broker.produce(cfg["topics"]["logs"], log_lines(start + POINTS))
    stats = worker.wait_for(lambda s: s["points_scored"] >= POINTS and s["events_in"] >= POINTS + 31
                            and s["dead_letters"] >= 1, timeout_s=60)
    assert stats["dead_letters"] == 1
    dead = [json.loads(m.value()) for m in broker.read_all(cfg["topics"]["deadletter"], min_count=1)]
    assert [d["reason"] for d in dead] == ["not csv: line 1: value 'slow' is not a number"]

    found = [json.loads(m.value()) for m in broker.read_all(cfg["topics"]["anomalies"], min_count=2)]
    series = series_id_for("checkout.latency", {"host": "shop-1"})
    spikes = [a for a in found if a["series_id"] == series and a.get("kind") != "episode_end"]
    assert {a["episode"] for a in spikes} == {1}, "the spike opens one episode; its next points belong to it"
    flagged = [a for a in spikes if a["score"] >= a["threshold"]]
    assert [a["time"] - start for a in flagged] == [SPIKE_AT], [(a["time"] - start, a["score"]) for a in spikes]
    assert flagged[0]["values"] == {"value": 400.0}
    assert list(flagged[0]["detectors"]) == ["level"] and flagged[0]["detectors"]["level"] > 0.999
    keyword = [a for a in found if a.get("kind") == "keyword"]
    assert len(keyword) == 1, found
    assert keyword[0]["detectors"] == {"keyword": 0.99}
    assert keyword[0]["labels"]["host"] == "plant-1"
    assert "'meltdown' in template" in keyword[0]["reason"]
