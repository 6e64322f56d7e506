"""Watching a consumer group of real workers from outside: assignments, lag, and the state they saved."""

from __future__ import annotations

import json
import time
from typing import Iterable

from confluent_kafka import Consumer, TopicPartition

from aiops.detectors.core import state_codec
from aiops.pipeline.config import Settings
from aiops.pipeline.state_store import read_state
from tests.support.broker import topic_partitions


def log_events(worker, event: str) -> list[dict]:
    """The worker's JSON log lines whose ``event`` is the given one, in order."""
    out = []
    for line in worker.logs().splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            out.append(record)
    return out


def restored_partitions(worker, *, after: int = 0) -> list[set[int]]:
    """The events partitions of each ``state.restored`` the worker logged, from the ``after``-th on."""
    return [set(r["partitions"]) for r in log_events(worker, "state.restored")[after:]]


def wait_assignment(members: dict, partitions: int, *, marks: dict | None = None, timeout_s: float = 90.0
                    ) -> dict[str, set[int]]:
    """Wait until the live members' latest restores (after ``marks``) cover every partition exactly once.

    ``members`` maps a name to a worker; ``marks`` maps a name to the number of ``state.restored`` lines
    to skip (those of an earlier generation). Returns name -> partitions.
    """
    marks = marks or {}
    deadline = time.monotonic() + timeout_s
    latest: dict[str, set[int]] = {}
    while time.monotonic() < deadline:
        latest = {}
        for name, worker in members.items():
            assert worker.proc.poll() is None, f"{name} exited:\n{worker.logs()[-3000:]}"
            seen = restored_partitions(worker, after=marks.get(name, 0))
            latest[name] = seen[-1] if seen else set()
        owned = [p for parts in latest.values() for p in parts]
        if sorted(owned) == list(range(partitions)) and all(latest.values()):
            return latest
        time.sleep(0.3)
    raise AssertionError(f"no settled assignment in {timeout_s}s; latest {latest}")


def restore_marks(members: dict) -> dict[str, int]:
    """How many ``state.restored`` lines each member logged so far."""
    return {name: len(log_events(w, "state.restored")) for name, w in members.items()}


def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> int:
    """Records of the topics not yet committed by the consumer group (read from the broker).

    A partition the group never committed counts from its low watermark.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = []
        for topic in topics:
            md = consumer.list_topics(topic, timeout=10)
            tps += [TopicPartition(topic, p) for p in sorted(md.topics[topic].partitions)]
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
        lag = 0
        for tp in tps:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            done = committed[(tp.topic, tp.partition)]
            lag += max(0, high - (done if done >= 0 else low))
        return lag
    finally:
        consumer.close()


def wait_drained(bootstrap: str, group: str, topics: Iterable[str], *, timeout_s: float = 120.0) -> float:
    """Wait until the group's lag on the topics is 0; returns the seconds it took."""
    topics = list(topics)
    began = time.monotonic()
    lag = -1
    while time.monotonic() - began < timeout_s:
        lag = group_lag(bootstrap, group, topics)
        if lag == 0:
            return time.monotonic() - began
        time.sleep(0.5)
    raise AssertionError(f"lag of {group} on {topics} still {lag} after {timeout_s}s")


def latest_states(bootstrap: str, topic: str, *, prefix: str = "", timeout_s: float = 30.0) -> dict[str, bytes]:
    """The last state record per key (opened with ``state_codec.unseal``, unsigned) whose key starts with prefix.

    Read as the worker's restore reads it (``read_state``: every partition to its end, an empty value deleting
    the key), not until nothing new arrives: workers that snapshot every second never let the topic go quiet.
    """
    settings = Settings(kafka={"bootstrap_servers": bootstrap}, topics={"state": topic})
    unfinished: set[int] = set()
    records = read_state(settings, topic_partitions(bootstrap, topic), timeout_s=timeout_s, unfinished=unfinished)
    assert not unfinished, f"{topic} partitions {sorted(unfinished)} not read to their end in {timeout_s}s"
    return {key: state_codec.unseal(key, blob, None) for key, blob in records.items() if key.startswith(prefix)}


def engine_count(blob: bytes) -> int:
    """Points a series' detectors have seen, from its ``engine/`` state record."""
    slot = state_codec.loads(blob)["slot"]
    return int((slot.arrays() if isinstance(slot, state_codec.ArrayTable) else slot)["count"])
