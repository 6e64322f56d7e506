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
    labels = {e["labels"]["host"] for m in broker.read_all(cfg["topics"]["events"]) for e in json.loads(m.value())}
    assert {"L" * 1024 + "…[cut, 600000 chars]", "B" * 1024 + "…[cut, 5000000 chars]"} <= labels

    # Still alive and scoring: a few more points after the poison.
    assert worker.proc.poll() is None
    produce(broker.bootstrap, topic, good_messages(start + STEPS, rng)[:10])
    stats = worker.wait_for(lambda s: s["points_scored"] >= good_points + 10 * len(HOSTS), timeout_s=30)
    assert stats["points_scored"] == good_points + 10 * len(HOSTS)
    assert worker.health()["status"] == "ok"
