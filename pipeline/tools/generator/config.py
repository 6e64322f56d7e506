"""Settings of the traffic generator.

>>> c = GeneratorConfig(hosts=2, services=["api"], seed=5)
>>> c.host_names(), c.kind_weights()["spike"]
(['node-1', 'node-2'], 3.0)
>>> GeneratorConfig(services=4).services
['api', 'db', 'cache', 'web']
>>> sorted(GeneratorConfig(attacks=False).kind_weights())
['drift', 'level_shift', 'log_error_burst', 'spike', 'variance_change']
>>> GeneratorConfig(services=["api,db"])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for GeneratorConfig
services
  Value error, service name 'api,db' must be letters, digits, '.', '_' or '-' [...]
...
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aiops.pipeline.tools.generator.anomalies import ALL_KINDS, ATTACK_KINDS, DEFAULT_WEIGHTS

SERVICE_NAMES = ("api", "db", "cache", "web", "worker", "queue")
"""Services with their own profiles and templates, in the order a service count takes them."""

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class GeneratorConfig(BaseModel):
    """What to simulate and how to ship it."""

    model_config = ConfigDict(extra="forbid")

    hosts: int = Field(4, ge=1, le=10_000, description="number of hosts, named host_prefix + 1..N")
    host_prefix: str = Field("node-", description="host names are this prefix and a number")
    services: list[str] = Field(default_factory=lambda: ["api", "db", "cache"], min_length=1,
                                description="services on every host (api, db, cache, web, worker, queue or any name)")
    interval_s: float = Field(1.0, gt=0, description="seconds between two points of a series")
    period_s: float = Field(86_400.0, gt=0, description="period of the load cycle (600 for a demo)")
    seed: int = Field(0, description="same seed, same traffic and same incidents")
    anomaly_rate: float = Field(2.0, ge=0, description="expected injected incidents per minute, whole fleet")
    warmup_s: float = Field(30.0, ge=0, description="no incident in the first seconds of live traffic")
    gap_s: float = Field(30.0, ge=0, description="quiet time on a series after an incident")
    history_s: float = Field(600.0, ge=0, description="seconds of clean past traffic sent before live")
    log_rate: float = Field(2.0, ge=0, description="application log lines/s per (host, service) at mid load")
    syslog_rate: float = Field(0.2, ge=0, description="syslog episodes/s per host (sshd, CRON, systemd)")
    attacks: bool = Field(True, description="inject sshd brute force and password spraying")
    kinds: list[str] = Field(default_factory=lambda: list(ALL_KINDS), description="incident kinds to inject")
    metric_format: Literal["influx", "json", "mixed"] = "mixed"
    log_format: Literal["json", "syslog", "mixed"] = "json"
    syslog_format: Literal["rfc5424", "rfc3164", "mixed"] = "mixed"
    max_lines_per_message: int = Field(200, ge=1, description="records per Kafka message at most")
    metrics_topic: str = "metrics.raw"
    logs_topic: str = "logs.raw"

    @field_validator("services", mode="before")
    @classmethod
    def _service_count(cls, value: object) -> object:
        """A number instead of names takes that many of ``SERVICE_NAMES``."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("at least one service is needed")
            return [SERVICE_NAMES[i] if i < len(SERVICE_NAMES) else f"svc-{i + 1}" for i in range(value)]
        return value

    @field_validator("services")
    @classmethod
    def _service_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"service name {name!r} must be letters, digits, '.', '_' or '-'")
        if len(set(value)) != len(value):
            raise ValueError("service names must be unique")
        return value

    @field_validator("host_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not _NAME.match(value):
            raise ValueError(f"host prefix {value!r} must be letters, digits, '.', '_' or '-'")
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ALL_KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; known: {', '.join(ALL_KINDS)}")
        return value

    def host_names(self) -> list[str]:
        return [f"{self.host_prefix}{i}" for i in range(1, self.hosts + 1)]

    def kind_weights(self) -> dict[str, float]:
        """Relative frequency of each enabled kind."""
        return {k: DEFAULT_WEIGHTS[k] for k in self.kinds if self.attacks or k not in ATTACK_KINDS}
