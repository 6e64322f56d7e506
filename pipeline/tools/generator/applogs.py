"""Application log lines: a realistic mix of templates with parameters.

Each service has its own templates (requests served, cache misses, slow
queries, GC pauses, connections...) at INFO, WARN and ERROR levels. Volume
follows the fleet's load; parameters follow the series' clean metrics
(``served in N ms`` is near the series' latency).

>>> import random
>>> source = AppLogSource("node-1", "cache", rate=5.0, rng=random.Random(1))
>>> lines = source.lines(100.0, 1.0, load=0.5, metrics={"latency_ms": 1.2})
>>> all(99.0 < line.time <= 100.0 for line in lines)
True
>>> render("cache miss for key {key}", random.Random(3), {})
'cache miss for key product:77679'
"""

from __future__ import annotations

import functools
import math
import random
import string
import uuid
from dataclasses import dataclass
from typing import Callable

from aiops.pipeline.tools.generator.encode import SEVERITY


@dataclass(slots=True)
class LogLine:
    """One log line before encoding. ``app`` is the syslog app-name (the service for app logs)."""

    time: float
    host: str
    service: str
    level: str
    message: str
    pid: int = 0
    facility: int = 1
    host_syslog: bool = False

    @property
    def severity(self) -> int:
        return SEVERITY.get(self.level, 6)


Template = tuple[float, str, str]
"""(weight, level, format string with named parameters)."""

TEMPLATES: dict[str, list[Template]] = {
    "api": [
        (30, "info", "GET {path} 200 served in {ms} ms"),
        (10, "info", "POST /api/v1/orders 201 served in {ms} ms"),
        (8, "info", "request {uuid} served in {ms} ms"),
        (6, "info", "connection from {ip} port {port} accepted"),
        (3, "info", "GC pause (G1 Evacuation Pause) {gc} ms"),
        (3, "warn", "slow request {path} took {slow} ms"),
        (1, "warn", "retrying call to db after {ms} ms (attempt 2/3)"),
        (1, "error", "upstream db timeout after 5000 ms for request {uuid}"),
    ],
    "db": [
        (30, "info", "query executed in {ms} ms rows={n}"),
        (8, "info", "connection received: host={ip} port={port}"),
        (4, "info", "checkpoint complete: wrote {n} buffers ({pct}%)"),
        (3, "info", "automatic vacuum of table \"shop.public.{table}\": index scans: 1"),
        (3, "warn", "duration: {slow} ms statement: SELECT * FROM {table} WHERE id = {n}"),
        (1, "error", "deadlock detected on relation \"{table}\""),
    ],
    "cache": [
        (30, "info", "cache miss for key {key}"),
        (15, "info", "cache hit ratio {ratio} over last {n} requests"),
        (4, "info", "evicted {n} keys (maxmemory-policy allkeys-lru)"),
        (4, "info", "accepted connection from {ip}:{port}"),
        (2, "warn", "client {ip}:{port} output buffer soft limit reached"),
        (1, "error", "connection refused to replica {ip}:{port}"),
    ],
}
_GENERIC: list[Template] = [
    (30, "info", "job {uuid} finished in {ms} ms"),
    (8, "info", "connection from {ip} port {port} accepted"),
    (4, "info", "GC pause (young) {gc} ms"),
    (3, "warn", "job {uuid} slow: {slow} ms"),
    (1, "error", "job {uuid} failed: connection reset by peer"),
]

ERROR_TEMPLATES: dict[str, list[str]] = {
    "api": ["upstream db timeout after 5000 ms for request {uuid}",
            "500 Internal Server Error on GET {path}: connection pool exhausted",
            "circuit breaker OPEN for dependency db after {n} failures"],
    "db": ["could not serialize access due to concurrent update on \"{table}\"",
           "remaining connection slots are reserved for superuser connections",
           "deadlock detected on relation \"{table}\""],
    "cache": ["connection refused to replica {ip}:{port}",
              "OOM command not allowed when used memory > 'maxmemory'",
              "MISCONF errors writing to disk: No space left on device"],
}
_GENERIC_ERRORS = ["job {uuid} failed: connection reset by peer", "unhandled exception in worker {n}: TimeoutError"]

_PATHS = ["/api/v1/orders/{n}", "/api/v1/users/{n}", "/api/v1/cart", "/healthz", "/api/v1/search?q=shoes"]
_TABLES = ["orders", "users", "payments", "sessions", "inventory"]
_KEY_SPACES = ["user:session", "product", "cart", "rate-limit"]


def templates_for(service: str) -> list[Template]:
    return TEMPLATES.get(service, _GENERIC)


def error_templates_for(service: str) -> list[str]:
    return ERROR_TEMPLATES.get(service, _GENERIC_ERRORS)


def _client_ip(rng: random.Random) -> str:
    return f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


_PARAMS: dict[str, Callable[[random.Random, dict[str, float]], str]] = {
    "ms": lambda rng, m: f"{max(0.1, m.get('latency_ms', 20.0) * rng.lognormvariate(0.0, 0.3)):.1f}",
    "slow": lambda rng, m: str(int(m.get("latency_ms", 20.0) * rng.uniform(8.0, 20.0)) + 200),
    "gc": lambda rng, m: str(rng.randint(3, 60)),
    "n": lambda rng, m: str(rng.randint(1, 99_999)),
    "pct": lambda rng, m: f"{rng.uniform(0.1, 9.9):.1f}",
    "ratio": lambda rng, m: f"{rng.uniform(0.82, 0.99):.3f}",
    "ip": lambda rng, m: _client_ip(rng),
    "port": lambda rng, m: str(rng.randint(32768, 60999)),
    "uuid": lambda rng, m: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "key": lambda rng, m: f"{rng.choice(_KEY_SPACES)}:{rng.randint(1, 99_999)}",
    "table": lambda rng, m: rng.choice(_TABLES),
    "path": lambda rng, m: rng.choice(_PATHS).replace("{n}", str(rng.randint(1, 9999))),
}
_FORMATTER = string.Formatter()


@functools.lru_cache(maxsize=1024)
def _parameter_names(template: str) -> tuple[str, ...]:
    return tuple(sorted({name for _, name, _, _ in _FORMATTER.parse(template) if name}))


def render(template: str, rng: random.Random, metrics: dict[str, float]) -> str:
    """Fill a template's named parameters with plausible values."""
    return template.format(**{name: _PARAMS[name](rng, metrics) for name in _parameter_names(template)})


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones).

    >>> poisson(random.Random(0), 0.0)
    0
    """
    if mean <= 0.0:
        return 0
    if mean > 30.0:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def spread(rng: random.Random, end: float, span: float, count: int) -> list[float]:
    """``count`` sorted times in ``(end - span, end]``."""
    return sorted(end - span * rng.random() for _ in range(count))


class AppLogSource:
    """The application log stream of one (host, service): ``rate`` lines/s at mid load."""

    def __init__(self, host: str, service: str, *, rate: float, rng: random.Random) -> None:
        self.host = host
        self.service = service
        self.rate = rate
        self.rng = rng
        self.pid = rng.randint(300, 32000)
        templates = templates_for(service)
        self._weights = [w for w, _, _ in templates]
        self._templates = templates

    def lines(self, end: float, span: float, *, load: float, metrics: dict[str, float]) -> list[LogLine]:
        """The lines logged in ``(end - span, end]``."""
        rng = self.rng
        count = poisson(rng, self.rate * span * (0.5 + load))
        picks = rng.choices(self._templates, weights=self._weights, k=count)
        return [
            LogLine(t, self.host, self.service, level, render(fmt, rng, metrics), pid=self.pid)
            for t, (_, level, fmt) in zip(spread(rng, end, span, count), picks)
        ]
