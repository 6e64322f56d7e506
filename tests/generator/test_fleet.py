"""The simulated fleet: deterministic by seed, seasonal, correlated, heavy-tailed noise."""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys

from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.fleet import Fleet, load_at, profile_for
from aiops.pipeline.tools.generator.produce import TrafficGenerator

START = 1_700_000_000.0


def _run(config: GeneratorConfig, history_s: float = 30.0, ticks: int = 120):
    gen = TrafficGenerator(config)
    messages = list(gen.history(START - history_s, START))
    for _, batch in itertools.islice(gen.live(START), ticks):
        messages += batch
    return gen, messages


class TestDeterminism:
    def test_same_seed_same_traffic_and_truth(self):
        """Two generators with one seed produce byte-identical messages and identical truth."""
        config = GeneratorConfig(seed=42, hosts=2, anomaly_rate=10.0, warmup_s=10.0, log_format="mixed")
        a, msgs_a = _run(config)
        b, msgs_b = _run(config)
        assert msgs_a == msgs_b
        assert a.truth == b.truth and a.truth

    def test_other_seed_other_traffic(self):
        """A different seed changes values and incidents."""
        a, msgs_a = _run(GeneratorConfig(seed=1, hosts=2, anomaly_rate=10.0, warmup_s=10.0))
        b, msgs_b = _run(GeneratorConfig(seed=2, hosts=2, anomaly_rate=10.0, warmup_s=10.0))
        assert msgs_a != msgs_b
        assert [(r["kind"], r["series_id"], r["start"]) for r in a.truth] != \
               [(r["kind"], r["series_id"], r["start"]) for r in b.truth]


DIGEST_SCRIPT = """
import hashlib, itertools
from aiops.pipeline.tools.generator.config import GeneratorConfig
from aiops.pipeline.tools.generator.produce import TrafficGenerator
gen = TrafficGenerator(GeneratorConfig(seed=42, hosts=2, anomaly_rate=30.0, warmup_s=0.0, log_format="mixed"))
h = hashlib.sha256()
for _, key, value in gen.history(1_700_000_000.0 - 20, 1_700_000_000.0):
    h.update(key + value)
for _, batch in itertools.islice(gen.live(1_700_000_000.0), 60):
    for _, key, value in batch:
        h.update(key + value)
h.update(repr(gen.truth).encode())
print(h.hexdigest())
"""


class TestDeterminismAcrossProcesses:
    def test_hash_seed_does_not_change_the_traffic(self):
        """Two interpreters with different string-hash seeds produce the same bytes."""
        digests = set()
        for hash_seed in ("1", "2"):
            env = {**os.environ, "PYTHONHASHSEED": hash_seed}
            out = subprocess.run([sys.executable, "-c", DIGEST_SCRIPT], env=env, capture_output=True,
                                 text=True, timeout=60, check=True)
            digests.add(out.stdout.strip().splitlines()[-1])
        assert len(digests) == 1 and len(digests.pop()) == 64


def _series(fleet: Fleet, seconds: int, start: float = START):
    out = {key: [] for key in fleet.series}
    for k in range(seconds):
        for key, values in fleet.sample(start + k).items():
            out[key].append(values)
    return out


def _corr(xs: list[float], ys: list[float]) -> float:
    return statistics.correlation(xs, ys)


class TestRealism:
    def test_load_cycle_shows_in_cpu(self):
        """CPU is higher around the cycle's peak than around its trough."""
        fleet = Fleet(["node-1"], ["api"], period_s=600.0, seed=3)
        cpu = [v["cpu"] for v in _series(fleet, 600, start=0.0)[fleet.series[0]]]
        peak = statistics.mean(cpu[120:180])      # load_at peaks near t = 150 s
        trough = statistics.mean(cpu[420:480])    # and bottoms out near t = 450 s
        assert load_at(150.0, 600.0) > 0.85 and load_at(450.0, 600.0) < 0.15
        assert peak - trough > profile_for("api").cpu_swing

    def test_latency_rises_with_cpu(self):
        """Latency correlates positively with CPU within a series."""
        fleet = Fleet(["node-1"], ["api", "db"], period_s=600.0, seed=4)
        for values in _series(fleet, 600).values():
            assert _corr([v["cpu"] for v in values], [v["latency_ms"] for v in values]) > 0.3

    def test_noise_is_autocorrelated_and_heavy_tailed(self):
        """Consecutive cpu values are correlated (AR(1)) and their changes have fat tails."""
        fleet = Fleet(["node-1"], ["cache"], period_s=86_400.0, seed=5)
        cpu = [v["cpu"] for v in _series(fleet, 5000)[fleet.series[0]]]
        assert _corr(cpu[:-1], cpu[1:]) > 0.6
        diffs = [b - a for a, b in zip(cpu, cpu[1:])]
        mean, sd = statistics.mean(diffs), statistics.pstdev(diffs)
        kurtosis = statistics.mean([((d - mean) / sd) ** 4 for d in diffs])
        assert kurtosis > 3.5  # a gaussian has 3

    def test_services_have_different_baselines(self):
        """db answers faster than api, and cache uses less cpu than db."""
        fleet = Fleet(["node-1"], ["api", "db", "cache"], period_s=600.0, seed=6)
        series = _series(fleet, 300)
        mean = {k.service: {f: statistics.mean(v[f] for v in vals) for f in ("cpu", "latency_ms")}
                for k, vals in series.items()}
        assert mean["db"]["latency_ms"] < mean["api"]["latency_ms"]
        assert mean["cache"]["cpu"] < mean["db"]["cpu"]

    def test_log_mix_has_levels_and_parameters(self, wire):
        """Application logs are mostly info with some warn and error, with varied parameters."""
        _, messages = _run(GeneratorConfig(seed=8, anomaly_rate=0.0), history_s=200, ticks=0)
        levels, messages_text, apps = [], set(), set()
        for topic, _, value in messages:
            if topic == "logs.raw":
                for r in wire(topic, value)[1]:
                    levels.append(r["level"])
                    messages_text.add(r["message"])
                    apps.add(r["service"])
        share = {lvl: levels.count(lvl) / len(levels) for lvl in set(levels)}
        assert share["info"] > 0.7 and 0 < share["warn"] < 0.2 and 0 < share["error"] < 0.05
        assert len(messages_text) > 0.8 * len(levels)  # parameters make lines distinct
        assert {"api", "db", "cache", "sshd", "CRON", "systemd"} <= apps
