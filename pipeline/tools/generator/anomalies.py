"""Injected anomalies and the seeded schedule that places them.

Metric kinds change the values of one (host, service) series: ``spike``
(one to three points), ``level_shift`` (a step for one to three minutes),
``drift`` (a ramp) and ``variance_change`` (extra noise). Log kinds add lines:
``log_error_burst`` (a burst of ERROR lines from one service), and the sshd
attacks ``brute_force`` (one IP, one user, many failed passwords, maybe a
success at the end) and ``password_spraying`` (one IP, many users).

Injections draw from their own random streams, never from the fleet's, so
the same seed with and without injections gives the same clean traffic
outside the injected windows. Every injection is one ground-truth record.

>>> from aiops.pipeline.tools.generator.fleet import SeriesKey
>>> schedule = AnomalySchedule(series=[SeriesKey("node-1", "api")], hosts=["node-1"],
...     rate_per_min=60.0, warmup_s=10.0, interval_s=1.0, seed=3)
>>> schedule.begin(1000.0)
>>> [schedule.step(1000.0 + k) for k in range(10)]
[[], [], [], [], [], [], [], [], [], []]
>>> started = [inj for k in range(10, 200) for inj in schedule.step(1000.0 + k)]
>>> len(started) > 0, all(inj.start >= 1010.0 for inj in started)
(True, True)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.shapes import series_id_for
from aiops.pipeline.tools.generator.applogs import LogLine, error_templates_for, poisson, render
from aiops.pipeline.tools.generator.fleet import SeriesKey, clip
from aiops.pipeline.tools.generator.hostlogs import AUTHPRIV, sshd_accepted, sshd_failed, sshd_invalid_user

METRIC_KINDS = ("spike", "level_shift", "drift", "variance_change")
LOG_KINDS = ("log_error_burst",)
ATTACK_KINDS = ("brute_force", "password_spraying")
ALL_KINDS = METRIC_KINDS + LOG_KINDS + ATTACK_KINDS

DEFAULT_WEIGHTS = {"spike": 3.0, "level_shift": 2.0, "drift": 1.0, "variance_change": 1.0,
                   "log_error_burst": 2.0, "brute_force": 1.0, "password_spraying": 1.0}
"""Relative frequency of each kind when all are enabled."""

SSHD = "sshd"

Effect = tuple[str, float]
"""(op, magnitude): ``add`` a value, ``mul`` by a factor, or ``noise`` with ``magnitude`` x the usual sd."""

SCENARIOS: dict[str, dict[str, dict[str, tuple[str, float, float]]]] = {
    "spike": {
        "cpu_saturation": {"cpu": ("add", 35.0, 55.0), "latency_ms": ("mul", 2.0, 3.0)},
        "latency": {"latency_ms": ("mul", 4.0, 8.0)},
        "errors": {"error_rate": ("add", 0.05, 0.2)},
    },
    "level_shift": {
        "cpu": {"cpu": ("add", 20.0, 30.0), "latency_ms": ("mul", 1.4, 1.8)},
        "memory": {"memory": ("add", 15.0, 25.0)},
        "latency": {"latency_ms": ("mul", 2.0, 3.0)},
        "errors": {"error_rate": ("add", 0.02, 0.05)},
    },
    "drift": {
        "memory_leak": {"memory": ("add", 20.0, 35.0)},
        "latency": {"latency_ms": ("mul", 2.5, 4.0)},
        "cpu": {"cpu": ("add", 25.0, 40.0)},
    },
    "variance_change": {
        "cpu": {"cpu": ("noise", 4.0, 6.0)},
        "latency": {"latency_ms": ("noise", 4.0, 6.0)},
    },
}
"""Per metric kind: named scenarios, each a feature -> (op, low, high) magnitude range."""

DURATION_S = {"level_shift": (60.0, 180.0), "drift": (120.0, 300.0), "variance_change": (60.0, 180.0),
              "log_error_burst": (30.0, 90.0), "brute_force": (30.0, 90.0), "password_spraying": (45.0, 120.0)}
"""Duration ranges in seconds (a spike lasts one to three points instead)."""

SPRAY_USERS = ["admin", "test", "user", "oracle", "postgres", "ubuntu", "guest", "git", "ftpuser", "support",
               "info", "mysql", "jenkins", "hadoop", "pi", "nagios", "backup", "www", "minecraft", "steam",
               "tomcat", "elastic", "kafka", "redis", "ansible", "vagrant", "demo", "student", "dev", "operator"]
BRUTE_USERS = ["root", "admin", "deploy", "ubuntu"]


@dataclass
class Injection:
    """One injected incident: what, where, when, and its ground-truth record."""

    id: str
    kind: str
    host: str
    service: str
    series_id: str
    start: float
    end: float
    features: list[str]
    params: dict[str, Any] = field(default_factory=dict)

    def active(self, time_s: float) -> bool:
        """Inside ``[start, end]``, with a microsecond's slack for tick times summed in another order."""
        return self.start - 1e-6 <= time_s <= self.end + 1e-6

    def truncate(self, at: float) -> None:
        """The traffic stopped at ``at``, inside the window: end the incident there."""
        self.end = max(self.start, at)
        self.params["truncated"] = True

    def record(self) -> dict[str, Any]:
        """The ground-truth record (see ``aiops.pipeline.tools.generator.truth``)."""
        return {"id": self.id, "kind": self.kind, "series_id": self.series_id,
                "labels": {"host": self.host, "service": self.service},
                "start": self.start, "end": self.end, "features": list(self.features), "params": dict(self.params)}


@dataclass
class MetricInjection(Injection):
    """Changes the values of one metric series inside ``[start, end]``."""

    effects: dict[str, Effect] = field(default_factory=dict)
    interval_s: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def weight(self, time_s: float) -> float:
        """How much of the effect applies at a time: a ramp for a drift, all of it otherwise."""
        if self.kind != "drift":
            return 1.0
        return min(1.0, (time_s - self.start + self.interval_s) / (self.end - self.start + self.interval_s))

    def apply(self, values: dict[str, float], time_s: float, noise_scale: dict[str, float]) -> dict[str, float]:
        if not self.active(time_s):
            return values
        out = dict(values)
        w = self.weight(time_s)
        for feature, (op, magnitude) in self.effects.items():
            if op == "add":
                value = out[feature] + magnitude * w
            elif op == "mul":
                value = out[feature] * (1.0 + (magnitude - 1.0) * w)
            else:
                extra_sd = math.sqrt(max(0.0, magnitude * magnitude - 1.0)) * noise_scale[feature]
                value = out[feature] + self.rng.gauss(0.0, extra_sd)
            out[feature] = clip(feature, value)
        return out


@dataclass
class LogInjection(Injection):
    """Adds planned log lines (an error burst or an sshd attack) inside ``[start, end]``."""

    planned: list[LogLine] = field(default_factory=list)
    _next: int = 0

    def truncate(self, at: float) -> None:
        """Keep only the lines sent by ``at`` and recount what the truth says about them."""
        super().truncate(at)
        self.planned = [line for line in self.planned[: self._next] if line.time <= at]
        self._next = len(self.planned)
        self.params.update(summarise(self.kind, self.planned))

    def lines(self, end: float, span: float) -> list[LogLine]:
        """The planned lines with times in ``(end - span, end]``."""
        out: list[LogLine] = []
        while self._next < len(self.planned) and self.planned[self._next].time <= end:
            line = self.planned[self._next]
            self._next += 1
            if line.time > end - span:
                out.append(line)
        return out


def summarise(kind: str, planned: list[LogLine]) -> dict[str, Any]:
    """The truth's counts for a list of injected lines (lines, attempts, users, success)."""
    if kind == "log_error_burst":
        return {"lines": len(planned)}
    failed = [line.message for line in planned if line.message.startswith("Failed password")]
    succeeded = any(line.message.startswith("Accepted password") for line in planned)
    if kind == "brute_force":
        return {"attempts": len(failed) + succeeded, "succeeded": succeeded}
    users = {m.split("invalid user ", 1)[1].split(" ", 1)[0] for m in failed}
    return {"attempts": len(failed), "users": sorted(users), "succeeded": False}


def _planned_times(rng: random.Random, start: float, end: float, count: int) -> list[float]:
    return sorted(start + (end - start) * rng.random() for _ in range(count))


def make_metric_injection(
    ident: str, kind: str, key: SeriesKey, start: float, *, interval_s: float, rng: random.Random
) -> MetricInjection:
    scenario = rng.choice(sorted(SCENARIOS[kind]))
    effects = {f: (op, round(rng.uniform(lo, hi), 4)) for f, (op, lo, hi) in SCENARIOS[kind][scenario].items()}
    if kind == "spike":
        end = start + interval_s * rng.randint(0, 2)
    else:
        lo, hi = DURATION_S[kind]
        end = start + interval_s * max(1, round(rng.uniform(lo, hi) / interval_s))
    params = {"scenario": scenario, "effects": {f: {"op": op, "value": m} for f, (op, m) in effects.items()}}
    return MetricInjection(ident, kind, key.host, key.service, key.series_id, start, end, sorted(effects), params,
                           effects=effects, interval_s=interval_s, rng=rng)


def make_error_burst(ident: str, key: SeriesKey, start: float, *, pid: int, rng: random.Random) -> LogInjection:
    lo, hi = DURATION_S["log_error_burst"]
    end = start + rng.uniform(lo, hi)
    rate = rng.uniform(5.0, 15.0)
    templates = error_templates_for(key.service)
    times = _planned_times(rng, start, end, max(5, poisson(rng, rate * (end - start))))
    planned = [LogLine(t, key.host, key.service, "error", render(rng.choice(templates), rng, {}), pid=pid)
               for t in times]
    labels = key.labels
    params = {"lines": len(planned), "rate_per_s": round(rate, 3), "log_series_id": series_id_for("log", labels),
              "count_series_id": series_id_for("logs", labels)}
    return LogInjection(ident, "log_error_burst", key.host, key.service, series_id_for("log", labels),
                        start, end, ["error"], params, planned=planned)


def make_attack(ident: str, kind: str, host: str, start: float, *, sshd_pid: int, rng: random.Random) -> LogInjection:
    lo, hi = DURATION_S[kind]
    end = start + rng.uniform(lo, hi)
    ip = f"{rng.choice(['203.0.113', '192.0.2'])}.{rng.randint(1, 254)}"
    labels = {"host": host, "service": SSHD}
    params: dict[str, Any] = {"ip": ip, "log_series_id": series_id_for("log", labels),
                              "count_series_id": series_id_for("logs", labels)}
    planned: list[LogLine] = []

    def add(t: float, level: str, message: str) -> None:
        planned.append(LogLine(t, host, SSHD, level, message, pid=sshd_pid + rng.randint(1, 30000),
                               facility=AUTHPRIV, host_syslog=True))

    if kind == "brute_force":
        user = rng.choice(BRUTE_USERS)
        times = _planned_times(rng, start, end, max(10, round(rng.uniform(1.0, 4.0) * (end - start))))
        succeeded = rng.random() < 0.3
        for i, t in enumerate(times):
            port = rng.randint(32768, 60999)
            if succeeded and i == len(times) - 1:
                add(t, "info", sshd_accepted(user, ip, port))
            else:
                add(t, "warn", sshd_failed(user, ip, port))
        params.update(user=user, **summarise(kind, planned))
    else:
        users = rng.sample(SPRAY_USERS, rng.randint(12, len(SPRAY_USERS)))
        times = _planned_times(rng, start, end, max(len(users), round(rng.uniform(0.5, 2.0) * (end - start))))
        for i, t in enumerate(times):
            user, port = users[i % len(users)], rng.randint(32768, 60999)
            add(t, "info", sshd_invalid_user(user, ip, port))
            add(t, "warn", sshd_failed(user, ip, port, invalid=True))
        params.update(summarise(kind, planned))
    return LogInjection(ident, kind, host, SSHD, series_id_for("log", labels), start, end,
                        ["failed_password"], params, planned=planned)


class AnomalySchedule:
    """Decides, tick by tick, which incidents start: seeded, never two at once on one series.

    ``rate_per_min`` is the expected number of incidents per minute over the
    whole fleet; none starts before ``begin(start) + warmup_s``, and a series
    rests ``gap_s`` after an incident before it can get another.
    """

    def __init__(
        self,
        *,
        series: list[SeriesKey],
        hosts: list[str],
        rate_per_min: float,
        warmup_s: float,
        interval_s: float,
        seed: int,
        weights: dict[str, float] | None = None,
        gap_s: float = 30.0,
        pids: dict[tuple[str, str], int] | None = None,
    ) -> None:
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = sorted(set(weights) - set(ALL_KINDS))
        if unknown:
            raise ConfigError(f"unknown anomaly kinds {unknown}; known: {', '.join(ALL_KINDS)}")
        self.kinds = [k for k in ALL_KINDS if weights.get(k, 0.0) > 0.0]
        self.weights = [weights[k] for k in self.kinds]
        self.series = list(series)
        self.hosts = list(hosts)
        self.rate_per_min = rate_per_min
        self.warmup_s = warmup_s
        self.interval_s = interval_s
        self.seed = seed
        self.gap_s = gap_s
        self.pids = pids or {}
        self.rng = random.Random(f"{seed}|schedule")
        self.busy_until: dict[str, float] = {}
        self.count = 0
        self.not_before = math.inf

    def begin(self, start: float) -> None:
        """Live traffic starts at ``start``: the warm-up counts from here."""
        self.not_before = start + self.warmup_s

    def resume(self, count: int) -> None:
        """Go on after ``count`` incidents placed by an earlier run: ids follow them, and the draws differ."""
        self.count = count
        self.rng = random.Random(f"{self.seed}|schedule|{count}")

    def step(self, time_s: float) -> list[Injection]:
        """The incidents that start at this tick."""
        if time_s < self.not_before or not self.kinds or self.rate_per_min <= 0.0:
            return []
        started: list[Injection] = []
        for _ in range(poisson(self.rng, self.rate_per_min * self.interval_s / 60.0)):
            kind = self.rng.choices(self.kinds, weights=self.weights)[0]
            injection = self._place(kind, time_s)
            if injection is not None:
                self.busy_until[injection.series_id] = injection.end + self.gap_s
                started.append(injection)
        return started

    def _free(self, series_id: str, time_s: float) -> bool:
        return self.busy_until.get(series_id, -math.inf) < time_s

    def _place(self, kind: str, time_s: float) -> Injection | None:
        self.count += 1
        ident = f"{self.seed}-{self.count:05d}-{kind}"
        rng = random.Random(f"{self.seed}|injection|{self.count}")
        if kind in ATTACK_KINDS:
            hosts = [h for h in self.hosts if self._free(series_id_for("log", {"host": h, "service": SSHD}), time_s)]
            if not hosts:
                return None
            host = self.rng.choice(hosts)
            return make_attack(ident, kind, host, time_s, sshd_pid=self.pids.get((host, SSHD), 700), rng=rng)
        if kind in LOG_KINDS:
            keys = [k for k in self.series if self._free(series_id_for("log", k.labels), time_s)]
            if not keys:
                return None
            key = self.rng.choice(keys)
            return make_error_burst(ident, key, time_s, pid=self.pids.get((key.host, key.service), 1000), rng=rng)
        keys = [k for k in self.series if self._free(k.series_id, time_s)]
        if not keys:
            return None
        return make_metric_injection(ident, kind, self.rng.choice(keys), time_s, interval_s=self.interval_s, rng=rng)
