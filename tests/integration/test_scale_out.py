"""Scale-out on a Kafka consumer group: real worker processes join, leave and are killed mid-stream.

One worker alone on an input with injected spikes gives the reference pages.
The same input then goes through a group of two workers, a third joins, the
alerting owner leaves (SIGTERM) and the next alerting owner is killed with
``kill -9`` while records are in flight. Partitions, and the per-series
detector, log-template, log-window and alerting state keyed by them, move
with every rebalance: the pages must be the reference's, none sent twice,
no clean series pages after a move and every series' learned count goes on.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from datetime import datetime

import pytest

from aiops.detectors.core import state_codec
from aiops.detectors.core.shapes import series_id_for
from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.source_state import SourceState
from aiops.pipeline.topics import partition_for
from tests.support.api_tokens import auth, config_tokens
from tests.support.cluster import (
    engine_count,
    latest_states,
    restore_marks,
    wait_assignment,
    wait_drained,
)
from tests.support.webhook_receiver import SignedWebhookReceiver

pytestmark = pytest.mark.integration

PARTS = 6
SECRET = "scale-out-secret"
WARM = 300  # steps of clean history before the first spike
PHASE = 100  # steps per phase: join, leave, kill
ONSET_TOLERANCE_S = 2.0


def hosts_per_partition(per_partition: int = 2) -> list[str]:
    """Hosts whose ``app`` series cover every events partition ``per_partition`` times."""
    hosts, filled = [], Counter()
    i = 0
    while len(hosts) < per_partition * PARTS:
        host = f"node-{i:02d}"
        part = partition_for(series_id_for("app", {"host": host}), PARTS)
        if filled[part] < per_partition:
            filled[part] += 1
            hosts.append(host)
        i += 1
    return hosts


HOSTS = hosts_per_partition()
SILENCED = HOSTS[0]
# Three spikes a phase, on distinct hosts: (step, host). The silenced host spikes after both alerting moves.
SPIKES = {
    WARM + 20: HOSTS[1:4], WARM + 60: HOSTS[4:5],
    WARM + PHASE + 20: HOSTS[5:8],
    WARM + 2 * PHASE + 20: HOSTS[8:10] + [SILENCED], WARM + 2 * PHASE + 70: HOSTS[10:12],
}
SPIKED = {h for hosts in SPIKES.values() for h in hosts}


def value_at(step: int, host: int) -> float:
    """A clean value, the same in every run (a fixed pseudo-random walk around 50)."""
    x = (step * 7919 + host * 104729) % 1000 / 1000.0
    return 50.0 + 4.0 * (x - 0.5)


def metric_messages(start: float, first: int, last: int) -> list[tuple[int, bytes]]:
    """(raw partition, Telegraf JSON batch) per step and events partition: a series keeps one raw partition."""
    out = []
    for k in range(first, last):
        by_part: dict[int, list[dict]] = {}
        for i, host in enumerate(HOSTS):
            value = 95.0 if host in SPIKES.get(k, ()) else value_at(k, i)
            part = partition_for(series_id_for("app", {"host": host}), PARTS)
            by_part.setdefault(part, []).append({"name": "app", "tags": {"host": host},
                                                 "fields": {"latency_ms": value}, "timestamp": start + k})
        out += [(part, json.dumps(batch).encode()) for part, batch in sorted(by_part.items())]
    return out


def log_lines(host: str, n: int, *, first: int) -> list[bytes]:
    """JSON log lines of one source with the time of now (its window stays open through the test)."""
    now = time.time()
    return [json.dumps({"timestamp": now, "host": host, "service": "api", "level": "info",
                        "message": f"request {first + k} served in {k % 7} ms"}).encode() for k in range(n)]


class Receiver(SignedWebhookReceiver):
    """A webhook receiver on loopback keeping every verified notification and its Idempotency-Key."""

    def __init__(self) -> None:
        super().__init__(SECRET)

    def firing(self) -> list[tuple[str, float, str]]:
        """(series_id, onset, fingerprint) of every firing alert in every notification received."""
        out = []
        for note in self.received:
            for alert in note["alerts"]:
                if alert["status"] == "firing":
                    onset = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()
                    out.append((alert["labels"]["series_id"], onset, alert["fingerprint"]))
        return out

    def wait_pages(self, series: set[str], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not series <= {s for s, _, _ in self.firing()}:
            assert time.monotonic() < deadline, f"no page for {series - {s for s, _, _ in self.firing()}}"
            time.sleep(0.2)


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.close()


def group_config(workers, receiver: Receiver) -> dict:
    return workers.config({
        "kafka": {"partitions": PARTS},
        "worker": {"snapshot_interval_s": 1},
        "ingest": {"log_window_s": 3600},
        "alerting": {
            "route": {"receiver": "hook", "group_by": ["alertname", "series_id"], "group_wait_s": 0,
                      "group_interval_s": 5},
            "receivers": [{"name": "hook", "sinks": [{"type": "webhook", "url": receiver.url, "secret": SECRET}]}],
            "api": {"tokens": config_tokens("sre")},
        },
    })


def produce_metrics(broker, cfg: dict, start: float, first: int, last: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for part, value in metric_messages(start, first, last):
        producer.produce(cfg["topics"]["metrics"], value=value, partition=part)
    assert producer.flush(30) == 0


def produce_logs(broker, cfg: dict, lines: list[bytes], host: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    part = partition_for(series_id_for("log", {"host": host, "service": "api"}), PARTS)
    for line in lines:
        producer.produce(cfg["topics"]["logs"], value=line, partition=part)
    assert producer.flush(30) == 0


def drained(broker, cfg: dict) -> None:
    t = cfg["topics"]
    wait_drained(broker.bootstrap, cfg["kafka"]["group_id"], [t["metrics"], t["logs"], t["events"], t["anomalies"]])


def api(worker, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **auth("sre")})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def alerting_owner(members: dict) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        owners = [name for name, w in members.items() if w.health()["owns_alerting"]]
        if len(owners) == 1:
            return owners[0]
        time.sleep(0.3)
    raise AssertionError("no single alerting owner")


def owned_partitions(members: dict) -> dict[str, set[int]]:
    """Each member's events partitions as its /healthz reports them."""
    return {name: set(w.health()["partitions"]) for name, w in members.items()}


def silence(worker) -> str:
    return api(worker, "POST", "/api/silences", {"matchers": [f"host={SILENCED}"], "duration_s": 3600,
                                                 "comment": "maintenance"})["id"]


def pages(receiver: Receiver) -> list[tuple[str, float]]:
    return sorted((s, onset) for s, onset, _ in receiver.firing())


def wait_counts(broker, cfg: dict, done, timeout_s: float = 30.0) -> dict[str, int]:
    """Points learned per ``app`` series, from the latest state records, once ``done(counts)`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = latest_states(broker.bootstrap, cfg["topics"]["state"], prefix="engine/app|")
        counts = {k: engine_count(v) for k, v in states.items()}
        if (len(counts) == len(HOSTS) and done(counts)) or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def same_pages(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> bool:
    if len(got) != len(want):
        return False
    return all(g[0] == w[0] and abs(g[1] - w[1]) <= ONSET_TOLERANCE_S for g, w in zip(got, want))


def test_pages_and_state_follow_partitions_through_join_leave_and_kill(broker, workers, receivers):
    start = time.time() - 3000
    end = WARM + 3 * PHASE
    spiked_series = {series_id_for("app", {"host": h}) for h in SPIKED - {SILENCED}}

    # (a) The reference: one worker alone, the same input, the same silence.
    ref_rx = receivers()
    ref_cfg = group_config(workers, ref_rx)
    alone = workers.start(ref_cfg)
    wait_assignment({"alone": alone}, PARTS)
    produce_metrics(broker, ref_cfg, start, 0, WARM)
    drained(broker, ref_cfg)
    silence(alone)
    produce_metrics(broker, ref_cfg, start, WARM, end)
    drained(broker, ref_cfg)
    ref_rx.wait_pages(spiked_series)
    time.sleep(2)  # a late notification would still be counted
    reference = pages(ref_rx)
    assert {s for s, _ in reference} == spiked_series, reference
    assert alone.stop() == 0

    # (b) A group of two, a third joining, the alerting owner leaving, the next one killed mid-stream.
    rx = receivers()
    cfg = group_config(workers, rx)
    members = {"a": workers.start(cfg), "b": workers.start(cfg)}
    wait_assignment(members, PARTS)
    produce_metrics(broker, cfg, start, 0, WARM)
    drained(broker, cfg)
    owner = alerting_owner(members)
    silence_id = silence(members[owner])
    counts_before = wait_counts(broker, cfg, lambda counts: set(counts.values()) == {WARM})
    assert len(counts_before) == len(HOSTS), counts_before

    marks = restore_marks(members)
    members["c"] = workers.start(cfg)
    joined = wait_assignment(members, PARTS, marks=marks)
    assert all(joined.values()), f"a member without partitions after the join: {joined}"
    assert owned_partitions(members) == joined, "/healthz names other partitions than the member restored"
    produce_metrics(broker, cfg, start, WARM, WARM + PHASE)
    drained(broker, cfg)
    first_pages = {series_id_for("app", {"host": h}) for k in (WARM + 20, WARM + 60) for h in SPIKES[k]}
    rx.wait_pages(first_pages)
    before_leave = {a["fingerprint"] for a in api(members[owner], "GET", "/api/alerts")["alerts"]}
    assert before_leave, "the alerting owner knows no alert"

    # The alerting owner leaves gracefully: its partitions and the alerting state move.
    marks = restore_marks(members)
    leaving = members.pop(owner)
    assert leaving.stop() == 0
    after_leave = wait_assignment(members, PARTS, marks=marks)
    owner = alerting_owner(members)
    known = {a["fingerprint"] for a in api(members[owner], "GET", "/api/alerts")["alerts"]}
    assert before_leave <= known, "alerts (open groups and their notified state) did not move with the owner"
    assert silence_id in {s["id"] for s in api(members[owner], "GET", "/api/silences")["silences"]}

    # Log lines of a source the next victim owns: its templates and window must survive the kill.
    victim = owner
    log_host = next(f"gw-{i}" for i in range(100)
                    if partition_for(series_id_for("log", {"host": f"gw-{i}", "service": "api"}), PARTS)
                    in after_leave[victim])
    log_key = series_id_for("log", {"host": log_host, "service": "api"})
    produce_logs(broker, cfg, log_lines(log_host, 30, first=0), log_host)
    produce_metrics(broker, cfg, start, WARM + PHASE, WARM + 2 * PHASE)
    drained(broker, cfg)
    rx.wait_pages({series_id_for("app", {"host": h}) for h in SPIKES[WARM + PHASE + 20]})
    deadline = time.monotonic() + 30
    while True:  # the victim's snapshot of the log source, taken on its timer
        logs_state = latest_states(broker.bootstrap, cfg["topics"]["state"], prefix=f"logintel/{log_key}")
        if logs_state and SourceState.from_bytes(log_key, logs_state[f"logintel/{log_key}"], LogsConfig()).lines == 30:
            break
        assert time.monotonic() < deadline, "the victim never saved the log source's state"
        time.sleep(0.5)
    time.sleep(1.5)  # one more snapshot interval: the victim's last snapshot is behind it

    # kill -9 mid-stream: half of the last phase in flight when the alerting owner dies.
    half = WARM + 2 * PHASE + PHASE // 2
    produce_metrics(broker, cfg, start, WARM + 2 * PHASE, half)
    marks = restore_marks(members)
    assert members.pop(victim).kill() == -9
    survivors = wait_assignment(members, PARTS, marks=marks)
    assert set(survivors) == set(members)
    assert owned_partitions(members) == survivors
    produce_metrics(broker, cfg, start, half, end)
    produce_logs(broker, cfg, log_lines(log_host, 20, first=30), log_host)
    drained(broker, cfg)
    rx.wait_pages(spiked_series)
    time.sleep(2)  # a late or repeated notification would still be counted
    owner = alerting_owner(members)
    assert silence_id in {s["id"] for s in api(members[owner], "GET", "/api/silences")["silences"]}

    # The pages: the reference's, none twice, none for a clean or silenced series.
    got = pages(rx)
    assert rx.bad_signatures == 0
    keys = Counter(key for key, _ in rx.deliveries)
    assert max(keys.values()) == 1, f"a notification was delivered twice: {keys.most_common(3)}"
    assert same_pages(got, reference), f"pages differ from the single worker's:\n{got}\n{reference}"
    assert {s for s, _ in got} == spiked_series

    # Every series' learned count went on across the moves (no re-warm from zero). Those that moved on a join or
    # a graceful leave count every point once. The killed worker's series restart from its last snapshot (1 s
    # old at most) and replay from its last commit: they may miss or repeat points of the half phase it had in
    # flight, never restart from zero.
    in_flight = PHASE // 2
    counts = wait_counts(broker, cfg, lambda counts: min(counts.values()) >= end - in_flight)
    assert len(counts) == len(HOSTS)
    killed = {k for k in counts if partition_for(k.removeprefix("engine/"), PARTS) in after_leave[victim]}
    assert {k: n for k, n in counts.items() if k not in killed and n != end} == {}, counts
    assert all(end - in_flight <= counts[k] <= end + in_flight for k in killed), counts
    states = latest_states(broker.bootstrap, cfg["topics"]["state"], prefix="log")

    # The log source's templates and window went on after the kill: 30 lines before it, 20 after.
    source = SourceState.from_bytes(log_key, states[f"logintel/{log_key}"], LogsConfig())
    assert source.lines == 50
    window = state_codec.loads(states[f"logwin/{log_key}"])
    assert window["count"] == 50, window
