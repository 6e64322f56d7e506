"""A seeded simulation of a fleet's service metrics.

Each (host, service) pair is one multivariate series with the features
``cpu`` (%), ``memory`` (%), ``latency_ms`` and ``error_rate`` (failed
requests / requests). Load follows a daily-style cycle of ``period_s``;
noise is AR(1) with occasional larger, benign jolts (heavy tails, not pure
gaussian); latency rises with cpu, errors with load.

>>> fleet = Fleet(["node-1"], ["api", "db"], period_s=600.0, seed=7)
>>> [key.series_id for key in fleet.series]
['service|host=node-1,service=api', 'service|host=node-1,service=db']
>>> values = fleet.sample(1_700_000_000.0)
>>> sorted(values[fleet.series[0]])
['cpu', 'error_rate', 'latency_ms', 'memory']
>>> Fleet(["node-1"], ["api"], period_s=600.0, seed=7).sample(1_700_000_000.0) == {
...     fleet.series[0]: values[fleet.series[0]]}
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from aiops.detectors.core.shapes import series_id_for

MEASUREMENT = "service"
"""The measurement name of every service series (line protocol / Telegraf JSON ``name``)."""

FEATURES = ("cpu", "memory", "latency_ms", "error_rate")

LIMITS = {"cpu": (0.0, 100.0), "memory": (0.0, 100.0), "latency_ms": (0.1, 120_000.0), "error_rate": (0.0, 1.0)}
"""Physical bounds every value is clipped to, injected or not."""

DECIMALS = {"cpu": 2, "memory": 2, "latency_ms": 2, "error_rate": 5}


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """The baseline of one kind of service; swings are amplitudes over the load cycle."""

    name: str
    cpu: float
    cpu_swing: float
    memory: float
    memory_swing: float
    latency_ms: float
    latency_cpu_gain: float
    error_rate: float
    cpu_noise: float = 2.0
    memory_noise: float = 0.6
    latency_noise: float = 0.08
    error_noise: float = 0.25


PROFILES: dict[str, ServiceProfile] = {
    p.name: p
    for p in (
        ServiceProfile("api", cpu=35, cpu_swing=20, memory=55, memory_swing=2, latency_ms=45,
                       latency_cpu_gain=1.5, error_rate=0.004),
        ServiceProfile("db", cpu=45, cpu_swing=15, memory=72, memory_swing=1, latency_ms=8,
                       latency_cpu_gain=2.5, error_rate=0.0008, memory_noise=0.2),
        ServiceProfile("cache", cpu=15, cpu_swing=8, memory=60, memory_swing=3, latency_ms=1.2,
                       latency_cpu_gain=1.0, error_rate=0.0003, cpu_noise=1.0),
        ServiceProfile("web", cpu=25, cpu_swing=18, memory=40, memory_swing=2, latency_ms=120,
                       latency_cpu_gain=1.2, error_rate=0.006),
        ServiceProfile("worker", cpu=55, cpu_swing=10, memory=65, memory_swing=2, latency_ms=900,
                       latency_cpu_gain=0.8, error_rate=0.01, cpu_noise=3.0),
        ServiceProfile("queue", cpu=20, cpu_swing=10, memory=50, memory_swing=3, latency_ms=4,
                       latency_cpu_gain=1.0, error_rate=0.0005),
    )
}


def profile_for(service: str) -> ServiceProfile:
    """The profile of a known service; any other name gets the ``api`` shape under its own name.

    >>> profile_for("db").latency_ms, profile_for("billing").name
    (8, 'billing')
    """
    known = PROFILES.get(service)
    if known is not None:
        return known
    base = PROFILES["api"]
    return ServiceProfile(service, **{k: getattr(base, k) for k in base.__dataclass_fields__ if k != "name"})


@dataclass(frozen=True, slots=True, order=True)
class SeriesKey:
    """One (host, service) pair: one metric series and one application log stream."""

    host: str
    service: str
    series_id: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "series_id", series_id_for(MEASUREMENT, self.labels))

    @property
    def labels(self) -> dict[str, str]:
        return {"host": self.host, "service": self.service}


def load_at(time_s: float, period_s: float, phase: float = 0.0) -> float:
    """Traffic load in [0, 1] at a time: one main cycle plus a smaller second harmonic.

    >>> round(load_at(0.0, 600.0), 3), round(load_at(150.0, 600.0), 3)
    (0.5, 0.9)
    """
    angle = 2.0 * math.pi * (time_s / period_s + phase)
    return 0.5 + 0.4 * math.sin(angle) + 0.1 * math.sin(2.0 * angle)


class AR1:
    """A stationary AR(1) process with standard deviation ``sd`` and heavy-tailed innovations.

    With probability ``jolt_p`` an innovation is ``jolt`` times larger: the
    benign jitter that real hosts show (a GC, a cron job, a noisy neighbour).
    """

    __slots__ = ("phi", "sd", "jolt_p", "jolt", "value", "_scale")

    def __init__(self, phi: float, sd: float, *, jolt_p: float = 0.02, jolt: float = 3.0) -> None:
        self.phi = phi
        self.sd = sd
        self.jolt_p = jolt_p
        self.jolt = jolt
        self.value = 0.0
        self._scale = sd * math.sqrt(1.0 - phi * phi) / math.sqrt(1.0 + jolt_p * (jolt * jolt - 1.0))

    def step(self, rng: random.Random) -> float:
        shock = rng.gauss(0.0, self._scale)
        if rng.random() < self.jolt_p:
            shock *= self.jolt
        self.value = self.phi * self.value + shock
        return self.value


class ServiceSimulator:
    """The clean metrics of one (host, service) series, one point per ``step``."""

    def __init__(self, profile: ServiceProfile, *, period_s: float, phase: float, rng: random.Random) -> None:
        self.profile = profile
        self.period_s = period_s
        self.phase = phase
        self.rng = rng
        self.cpu = AR1(0.85, profile.cpu_noise)
        self.memory = AR1(0.9, profile.memory_noise, jolt_p=0.0)
        self.latency = AR1(0.7, profile.latency_noise)
        self.errors = AR1(0.6, profile.error_noise)

    def noise_scale(self) -> dict[str, float]:
        """The typical noise of each feature in its own units (used to size variance changes)."""
        p = self.profile
        latency = p.latency_ms * (1.0 + p.latency_cpu_gain * (p.cpu / 100.0) ** 2)
        return {"cpu": p.cpu_noise, "memory": p.memory_noise,
                "latency_ms": latency * p.latency_noise, "error_rate": p.error_rate * p.error_noise}

    def step(self, time_s: float) -> dict[str, float]:
        p, rng = self.profile, self.rng
        swing = 2.0 * load_at(time_s, self.period_s, self.phase) - 1.0
        cpu = clip("cpu", p.cpu + p.cpu_swing * swing + self.cpu.step(rng))
        memory = clip("memory", p.memory + p.memory_swing * swing + self.memory.step(rng))
        latency = p.latency_ms * (1.0 + p.latency_cpu_gain * (cpu / 100.0) ** 2) * math.exp(self.latency.step(rng))
        errors = p.error_rate * (1.0 + 0.3 * swing) * math.exp(self.errors.step(rng))
        return {"cpu": cpu, "memory": memory, "latency_ms": clip("latency_ms", latency),
                "error_rate": clip("error_rate", errors)}


def clip(feature: str, value: float) -> float:
    """Clip a value to the feature's physical bounds.

    >>> clip("cpu", 130.0), clip("error_rate", -0.1)
    (100.0, 0.0)
    """
    low, high = LIMITS[feature]
    return min(high, max(low, value))


def rounded(values: dict[str, float]) -> dict[str, float]:
    """Values as an agent reports them: a sensible number of decimals per feature."""
    return {k: round(v, DECIMALS.get(k, 4)) for k, v in values.items()}


class Fleet:
    """Hosts x services; ``sample(t)`` advances every series by one point at time ``t``."""

    def __init__(self, hosts: list[str], services: list[str], *, period_s: float, seed: int) -> None:
        self.hosts = list(hosts)
        self.services = list(services)
        self.period_s = period_s
        self.series = [SeriesKey(h, s) for h in self.hosts for s in self.services]
        self.simulators = {
            key: ServiceSimulator(
                profile_for(key.service),
                period_s=period_s,
                phase=random.Random(f"{seed}|phase|{key.host}").uniform(-0.02, 0.02),
                rng=random.Random(f"{seed}|metrics|{key.host}|{key.service}"),
            )
            for key in self.series
        }

    def load(self, time_s: float) -> float:
        """The fleet's traffic load in [0, 1] (drives log volume)."""
        return load_at(time_s, self.period_s)

    def sample(self, time_s: float) -> dict[SeriesKey, dict[str, float]]:
        return {key: sim.step(time_s) for key, sim in self.simulators.items()}
