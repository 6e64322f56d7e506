"""The configuration file: one validated model, loaded from YAML or JSON.

Every section rejects unknown keys; a bad file raises ``ConfigError`` whose
message names the key path and why. Secrets are never written in the file:
any string value of the form ``${NAME}`` is read from the environment, and
``${file:/path}`` from a file.

>>> s = Settings.model_validate({"kafka": {"bootstrap_servers": "k:9092"}})
>>> s.topics.metrics, s.kafka.bootstrap_servers
('metrics.raw', 'k:9092')
>>> Settings.model_validate({"kafak": {}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
kafak
  Extra inputs are not permitted [type=extra_forbidden, input_value={}, input_type=dict]
...
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from aiops.alerting.config import AlertingConfig
from aiops.detectors.config import DetectionConfig
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.kafka_security import librdkafka_security
from aiops.detectors.logs.config import LogsConfig
from aiops.pipeline.normalise.formats import InputFormats
from aiops.pipeline.score_writer import ScoreOutputSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(_Section):
    """Where the broker is and how to talk to it (librdkafka-style security settings)."""

    bootstrap_servers: str = Field("127.0.0.1:9092",
        description="comma-separated host:port list of the brokers to start from")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field("PLAINTEXT",
        description="how the clients talk to the brokers: plain or TLS, with or without SASL")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(None,
        description="SASL mechanism for SASL_PLAINTEXT and SASL_SSL (null: no SASL)")
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(None,
        description="SASL password; write ${NAME} (environment) or ${file:/path}, never the value")
    ssl_cafile: str | None = Field(None,
        description="CA bundle that signed the brokers' certificates (null: the system CAs)")
    ssl_certfile: str | None = Field(None, description="client certificate, for brokers that require mutual TLS")
    ssl_keyfile: str | None = Field(None, description="private key of the client certificate")
    client_id: str = Field("aiops", description="client id the worker's Kafka clients send (broker logs and quotas)")
    group_id: str = Field("aiops-worker",
        description="consumer group the workers share; workers of one group split the partitions")
    session_timeout_s: float = Field(10.0, gt=0,
        description="consumer-group session timeout: a worker silent this long loses its partitions")
    rebalance_timeout_s: float = Field(12.0, gt=0,
        description="longest the group waits for members to rejoin during a rebalance")
    fetch_max_wait_ms: int = Field(
        100, ge=1, le=30_000, description="longest a fetch waits on an idle partition (latency on brokers that hold fetches)")
    partitions: int = Field(4, ge=1, description="partitions for the topics the worker creates")
    replication_factor: int = Field(1, ge=1, description="replication of the topics the worker creates (3 in production)")

    def confluent(self) -> dict[str, Any]:
        """The same settings as a librdkafka (confluent-kafka) config dict."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id}
        conf.update(librdkafka_security(self.security_protocol, self.sasl_mechanism, self.sasl_username,
                                        self.sasl_password))
        for key, value in (
            ("ssl.ca.location", self.ssl_cafile),
            ("ssl.certificate.location", self.ssl_certfile),
            ("ssl.key.location", self.ssl_keyfile),
        ):
            if value:
                conf[key] = value
        return conf


class TopicSettings(_Section):
    """Topic names (the defaults of DESIGN.md)."""

    metrics: str = Field("metrics.raw", description="topic the worker reads metrics from (JSON, Influx line protocol)")
    logs: str = Field("logs.raw", description="topic the worker reads log records from (JSON logs, syslog)")
    events: str = Field("events", description="normalised events, keyed by series id (written and read by the worker)")
    scores: str = Field("scores", description="per-point scores the worker writes")
    anomalies: str = Field("anomalies", description="anomalies the worker writes, read by alerting")
    alerts: str = Field("alerts", description="alerts the worker writes")
    deadletter: str = Field("deadletter",
        description="records that could not be parsed, scored or delivered, with the reason and origin")
    feedback: str = Field("feedback", description="SRE verdicts (false or true positive) the worker reads")
    state: str = Field("detector.state",
        description="per-series state snapshots (compacted; restored on start and rebalance)")
    actions: str = Field("actions.requested", description="remediation actions requested")
    audit: str = Field("actions.audit", description="audit trail of remediation actions")


class IngestSettings(_Section):
    """Limits and checks applied while normalising."""

    max_series: int = Field(100_000, ge=1, description="series beyond this are refused and counted")
    max_past_s: float = Field(7 * 86400.0, gt=0, description="reject event times older than now minus this")
    max_future_s: float = Field(300.0, gt=0, description="reject event times later than now plus this")
    dedup_cache: int = Field(200_000, ge=0, description="recent event keys remembered to drop exact duplicates")
    log_window_s: float = Field(60.0, gt=0, description="window over which log counts become metric features")
    max_label_chars: int = Field(1024, ge=16, description="longer label values are cut, with a marker")
    max_message_chars: int = Field(16_384, ge=64, description="longer log messages are cut, with a marker")
    max_event_bytes: int = Field(
        64 * 1024, ge=1024, le=512 * 1024,
        description="an event still larger once cut (names, many features) is dead-lettered with the reason")
    default_timezone: str = Field("UTC",
        description="time zone of timestamps that carry none (RFC 3164 syslog), as an IANA name")
    formats: InputFormats = Field(default_factory=InputFormats,
        description="the format of each raw topic: auto (detected per payload) or one by name, built-in or a plugin")


class WorkerSettings(_Section):
    """How the worker batches and persists."""

    batch_size: int = Field(1000, ge=1, description="messages taken from Kafka per batch")
    batch_within_s: float = Field(0.2, gt=0, description="longest a batch waits for more records after its first")
    batch_idle_s: float = Field(0.002, gt=0,
        description="a batch closes once no record came for this long (one fetch's records arrive together)")
    snapshot_interval_s: float = Field(30.0, gt=0, description="how often changed detector state is saved")
    inline_score_max_events: int = Field(
        5000, ge=0,
        description="a batch of up to this many events is scored on the event loop (it holds the loop for about "
                    "10 µs an event), a larger one (a backlog) in a thread; 0: always in a thread")
    events_per_record: int = Field(
        1000, ge=1, le=20_000,
        description="events per record on the events topic (keeps records well under Kafka's 1 MB default)")
    max_record_bytes: int = Field(
        900_000, ge=64 * 1024, le=1_000_000,
        description="largest record the worker writes; events records are split to stay under it")
    web_port: int = Field(6066, ge=0, le=65535,
        description="port of /metrics, /healthz, /ready and the alerting API (0: no HTTP server)")
    web_host: str = Field("127.0.0.1", description="address the HTTP server binds; a non-loopback one needs API tokens")
    data_dir: str = Field("var/aiops",
        description="local directory of the worker's Faust data (created at start; keep it on a persistent volume)")


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info",
        description="least level of the worker's log lines")
    format: Literal["json", "console"] = Field("json",
        description="json: one JSON object per line; console: readable lines")


class Settings(_Section):
    """The whole configuration file."""

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    ingest: IngestSettings = IngestSettings()
    worker: WorkerSettings = WorkerSettings()
    logging: LoggingSettings = LoggingSettings()
    detection: DetectionConfig = DetectionConfig()
    logs: LogsConfig = LogsConfig()
    alerting: AlertingConfig = AlertingConfig()
    score_output: ScoreOutputSettings = ScoreOutputSettings()

    def digest(self) -> str:
        """A short hash of the effective configuration, logged whenever one is applied."""
        dumped = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(dumped.encode()).hexdigest()[:12]


_ENV_REF = re.compile(r"^\$\{(?:(file):)?([^}]+)\}$")


def resolve_secrets(value: Any) -> Any:
    """Replace ``${NAME}`` by the environment variable and ``${file:/p}`` by the file's text.

    >>> os.environ["AIOPS_DOCTEST_TOKEN"] = "s3cret"
    >>> resolve_secrets({"a": ["${AIOPS_DOCTEST_TOKEN}", "plain"]})
    {'a': ['s3cret', 'plain']}
    """
    if isinstance(value, dict):
        return {k: resolve_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v) for v in value]
    if isinstance(value, str):
        match = _ENV_REF.match(value.strip())
        if match:
            kind, name = match.groups()
            if kind == "file":
                try:
                    return Path(name).read_text().strip()
                except OSError as exc:
                    raise ConfigError(f"secret file {name!r} cannot be read: {exc.strerror}") from exc
            if name not in os.environ:
                raise ConfigError(f"environment variable {name!r} is not set (referenced as ${{{name}}})")
            return os.environ[name]
    return value


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``key.path: why (got: value)``."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got: {got!r})"
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key")
        else:
            lines.append(f"{path}: {err['msg']}{shown}")
    return "\n".join(lines)


def parse_settings(data: dict[str, Any] | None) -> Settings:
    """Validate a decoded configuration, raising ``ConfigError`` that names each bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("configuration must be a mapping at the top level")
    try:
        return Settings.model_validate(resolve_secrets(data))
    except ValidationError as exc:
        problems = describe_validation_error(exc).splitlines()
        if len(problems) == 1:  # one bad key: one line
            raise ConfigError(f"invalid configuration: {problems[0]}") from None
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems)) from None


def load_settings(path: str | os.PathLike[str] | None) -> Settings:
    """Load and validate a YAML or JSON configuration file (None: all defaults)."""
    if path is None:
        return parse_settings({})
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {str(path)!r}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML/JSON: {exc}") from exc
    return parse_settings(data)
