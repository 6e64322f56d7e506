"""No record stops an agent or is skipped: oversized and poison input among normal traffic, on a real worker.

Good points (some with 600 KB label values, one in a 5 MB message) are all
scored, with the long values cut; every bad message (random bytes, truncated
JSON, invalid UTF-8, 5 MB of noise) is in the dead-letter topic with its
reason; every record the worker writes stays under Kafka's 1 MB default; and
the worker is still healthy and scoring afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time

import pytest
from confluent_kafka import Producer

from aiops.detectors.core.shapes import Event, series_id_for
from aiops.pipeline.event_codec import decode_batch, encode_events
from aiops.pipeline.topics import partition_for

pytestmark = pytest.mark.integration

HOSTS = [f"web-{i}" for i in range(5)]
STEPS = 100
KAFKA_DEFAULT_MAX = 1_048_576


def point(host: str, t: float, value: float) -> dict:
    return {"name": "app", "tags": {"host": host}, "fields": {"latency_ms": value}, "timestamp": t}


def good_messages(start: float, rng: random.Random) -> list[bytes]:
    """One message per time step, five hosts each: 500 points."""
    return [json.dumps([point(h, start + k, 50 + rng.gauss(0, 2)) for h in HOSTS]).encode() for k in range(STEPS)]


def poison_messages(rng: random.Random) -> list[bytes]:
    """300 bad messages: random bytes, truncated JSON, invalid UTF-8."""
    noise = [b"\x00" + rng.randbytes(rng.randint(20, 400)) for _ in range(100)]
    whole = json.dumps([point("web-0", 1.0, 1.0)] * 3)
    truncated = [whole[: rng.randint(5, len(whole) - 2)].encode() for _ in range(100)]
    not_utf8 = [b"cpu,host=db-" + str(k).encode() + b" user=1 \xff\xfe\xc3" for k in range(100)]
    return noise + truncated + not_utf8


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "message.max.bytes": 8_000_000})
    failed = []
    for value in values:
        producer.produce(topic, value=value, on_delivery=lambda err, _m: err and failed.append(err))
    assert producer.flush(30) == 0, "messages left unsent"
    assert failed == []


def test_oversized_and_poison_input_is_scored_or_dead_lettered(broker, workers):
    """Every good point scored, every bad message dead-lettered with its reason, the worker healthy."""
    cfg = workers.config()
    worker = workers.start(cfg)
    topic = cfg["topics"]["metrics"]
    rng = random.Random(13)
    start = time.time() - 900
    good = good_messages(start, rng)
    # Four points of one series with a 600 KB label value, in one message: 2.4 MB of events for one partition.
    long_label = [json.dumps([point("L" * 600_000, start + k, 50.0) for k in range(4)]).encode()]
    big_good = json.dumps([point("B" * 5_000_000, start + 1, 50.0)]).encode()  # a 5 MB message, one good point
    big_noise = b"\x00" + random.Random(5).randbytes(5_000_000)  # 5 MB of noise
    poison = poison_messages(rng)
    mixed = good[:40] + long_label + poison[:150] + [big_noise] + good[40:70] + [big_good] + poison[150:] + good[70:]
    produce(broker.bootstrap, topic, mixed)

    good_points = len(HOSTS) * STEPS + 4 + 1
    bad = poison + [big_noise]
    stats = worker.wait_for(lambda s: s["points_scored"] >= good_points and s["dead_letters"] >= len(bad),
                            timeout_s=90)
    assert stats["points_scored"] == good_points
    assert stats["events_in"] == good_points
    assert stats["dead_letters"] == len(bad)
    assert stats["records_held"] == 0

    dead = [json.loads(m.value()) for m in broker.read_all(cfg["topics"]["deadletter"], min_count=len(bad),
                                                           timeout_s=30)]
    assert len(dead) == len(bad)
    for record in dead:
        assert record["reason"] and record["stage"] == "normalise" and record["topic"] == topic
        assert isinstance(record["offset"], int)
    small = {base64.b64decode(d["original_b64"]) for d in dead if not d.get("truncated")}
    assert small == set(poison)
    [huge] = [d for d in dead if d.get("truncated")]
    assert huge["size"] == len(big_noise) and huge["sha256"] == hashlib.sha256(big_noise).hexdigest()

    written = broker.read_all(cfg["topics"]["events"], timeout_s=30) + broker.read_all(cfg["topics"]["deadletter"])
    assert max(len(m.value()) for m in written) < KAFKA_DEFAULT_MAX
    labels = {e.labels["host"] for m in broker.read_all(cfg["topics"]["events"]) for e in decode_batch(m.value())[0]}
    assert {"L" * 1024 + "…[cut, 600000 chars]", "B" * 1024 + "…[cut, 5000000 chars]"} <= labels

    # Still alive and scoring: a few more points after the poison.
    assert worker.proc.poll() is None
    produce(broker.bootstrap, topic, good_messages(start + STEPS, rng)[:10])
    stats = worker.wait_for(lambda s: s["points_scored"] >= good_points + 10 * len(HOSTS), timeout_s=30)
    assert stats["points_scored"] == good_points + 10 * len(HOSTS)
    assert worker.health()["status"] == "ok"


def test_an_events_record_the_detectors_refuse_is_dead_lettered_and_the_rest_scored(broker, workers):
    """Events records that decode but cannot be scored (a text value, a text time) go to the dead-letter topic
    with the reason; the good records of the same batches are all scored."""
    cfg = workers.config()
    worker = workers.start(cfg)
    parts = cfg["kafka"]["partitions"]
    start = time.time() - 600
    records: list[tuple[int, bytes]] = []
    for k in range(60):
        events = [Event("metric", series_id_for("app", {"host": h}), {"host": h}, start + k, {"v": 50.0 + k % 3})
                  for h in HOSTS]
        for e in events:
            records.append((partition_for(e.series_id, parts), encode_events([e])))
        if k % 20 == 10:
            bad_value = Event("metric", "app|host=bad", {"host": "bad"}, start + k, {"v": 1.0})
            bad_value.features = {"v": "abc"}  # type: ignore[dict-item]
            bad_time = Event("metric", "app|host=bad", {"host": "bad"}, start + k, {"v": 1.0})
            bad_time.time = "noon"  # type: ignore[assignment]
            for bad in (bad_value, bad_time):
                records.append((partition_for(bad.series_id, parts), encode_events([bad])))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for partition, value in records:
        producer.produce(cfg["topics"]["events"], value=value, partition=partition)
    assert producer.flush(15) == 0

    good_points = 60 * len(HOSTS)
    stats = worker.wait_for(lambda s: s["points_scored"] >= good_points and s["dead_letters"] >= 6, timeout_s=60)
    assert stats["points_scored"] == good_points
    assert stats["dead_letters"] == 6 and stats["records_held"] == 0
    dead = [json.loads(m.value()) for m in broker.read_all(cfg["topics"]["deadletter"], min_count=6)]
    assert len(dead) == 6
    assert all(d["stage"] == "score" and d["topic"] == cfg["topics"]["events"] for d in dead)
    reasons = sorted(d["reason"] for d in dead)
    assert all(r.startswith("scoring failed: InputError: ") for r in reasons), reasons
    assert sum("is not a number: 'abc'" in r for r in reasons) == 3
    assert sum("has no numeric time: 'noon'" in r for r in reasons) == 3
    assert worker.proc.poll() is None and worker.health()["status"] == "ok"
