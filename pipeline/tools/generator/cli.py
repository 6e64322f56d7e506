"""The ``aiops generate`` subcommand: synthetic fleet traffic to any Kafka broker.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="aiops")
>>> register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["generate", "--hosts", "2", "--no-attacks", "--duration", "5"])
>>> config = config_from_args(args)
>>> config.hosts, config.attacks, args.duration, args.func is handler
(2, False, 5.0, True)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError

from aiops.detectors.core.errors import AiopsError, ConfigError
from aiops.pipeline.config import describe_validation_error, load_settings
from aiops.pipeline.tools.generator.anomalies import ALL_KINDS
from aiops.pipeline.tools.generator.config import GeneratorConfig

log = structlog.get_logger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``generate`` to the ``aiops`` command line."""
    p = sub.add_parser("generate", help="send synthetic fleet metrics and logs with labelled incidents to Kafka",
                       description=__doc__.split("\n\n")[0])
    kafka = p.add_argument_group("kafka")
    kafka.add_argument("--config", metavar="FILE", help="settings file: its kafka and topics sections are used")
    kafka.add_argument("--bootstrap", help="bootstrap servers (default: the settings file's, or 127.0.0.1:9092)")
    kafka.add_argument("--metrics-topic", help="default: metrics.raw (or the settings file's topics.metrics)")
    kafka.add_argument("--logs-topic", help="default: logs.raw (or the settings file's topics.logs)")
    kafka.add_argument("--security-protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
    kafka.add_argument("--sasl-mechanism", choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    kafka.add_argument("--sasl-username")
    kafka.add_argument("--sasl-password", help="better: put ${ENV_NAME} in the settings file")
    kafka.add_argument("--ssl-cafile")
    kafka.add_argument("--producer-option", action="append", default=[], metavar="KEY=VALUE",
                       help="any librdkafka producer setting, e.g. linger.ms=20 (repeatable)")
    fleet = p.add_argument_group("traffic")
    fleet.add_argument("--hosts", type=int, default=4)
    fleet.add_argument("--services", default="api,db,cache", help="comma-separated service names, or how many of api,db,cache,web,worker,queue")
    fleet.add_argument("--interval", type=float, default=1.0, help="seconds between points of a series")
    fleet.add_argument("--period", type=float, default=86_400.0, help="seconds of one load cycle")
    fleet.add_argument("--duration", type=float, default=600.0,
                       help="seconds of live traffic; 0: incidents for ever, until stopped (SIGTERM or Ctrl-C)")
    fleet.add_argument("--checkpoint", metavar="FILE",
                       help="note here where the run is; started again, it goes on from there instead of sending "
                            "its history again (and appends to --truth)")
    fleet.add_argument("--history", type=float, default=600.0, help="seconds of clean past traffic sent first")
    fleet.add_argument("--rate-multiplier", type=float, default=1.0, help="send points this many times as often")
    fleet.add_argument("--log-rate", type=float, default=2.0, help="app log lines/s per host and service")
    fleet.add_argument("--seed", type=int, default=0)
    fleet.add_argument("--format", dest="metric_format", choices=["influx", "json", "mixed"], default="mixed",
                       help="metric payloads: line protocol, Telegraf JSON, or both")
    fleet.add_argument("--log-format", choices=["json", "syslog", "mixed"], default="json",
                       help="application logs: Vector JSON, syslog, or both")
    fleet.add_argument("--syslog-format", choices=["rfc5424", "rfc3164", "mixed"], default="mixed")
    fleet.add_argument("--max-lines", type=int, default=200, help="records per Kafka message at most")
    inc = p.add_argument_group("incidents")
    inc.add_argument("--anomaly-rate", type=float, default=2.0, help="incidents per minute over the fleet")
    inc.add_argument("--warmup", type=float, default=30.0, help="no incident in the first seconds of live")
    inc.add_argument("--kinds", default=",".join(ALL_KINDS), help="comma-separated incident kinds")
    inc.add_argument("--attacks", action=argparse.BooleanOptionalAction, default=True,
                     help="inject sshd brute force and password spraying")
    inc.add_argument("--truth", metavar="FILE", help="write the ground truth here (JSONL)")
    p.set_defaults(func=handler)


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def config_from_args(args: argparse.Namespace, settings: Any = None) -> GeneratorConfig:
    """The generator settings the arguments describe; raises ``ConfigError`` naming a bad one."""
    topics = settings.topics if settings is not None else None
    values = {
        "hosts": args.hosts,
        "services": int(args.services) if args.services.strip().isdigit() else _csv(args.services), "interval_s": args.interval,
        "period_s": args.period, "seed": args.seed, "anomaly_rate": args.anomaly_rate,
        "warmup_s": args.warmup, "history_s": args.history, "log_rate": args.log_rate,
        "attacks": args.attacks, "kinds": _csv(args.kinds), "metric_format": args.metric_format,
        "log_format": args.log_format, "syslog_format": args.syslog_format,
        "max_lines_per_message": args.max_lines,
        "metrics_topic": args.metrics_topic or (topics.metrics if topics else "metrics.raw"),
        "logs_topic": args.logs_topic or (topics.logs if topics else "logs.raw"),
    }
    try:
        return GeneratorConfig(**values)
    except ValidationError as exc:
        raise ConfigError("invalid generator options:\n" + describe_validation_error(exc)) from None


def producer_conf_from_args(args: argparse.Namespace, settings: Any = None) -> tuple[str, dict[str, Any]]:
    """(bootstrap servers, extra librdkafka settings) from the settings file and the flags."""
    conf: dict[str, Any] = settings.kafka.confluent() if settings is not None else {}
    bootstrap = args.bootstrap or conf.pop("bootstrap.servers", None) or "127.0.0.1:9092"
    conf.pop("bootstrap.servers", None)
    conf.pop("client.id", None)
    for key, value in (("security.protocol", args.security_protocol), ("sasl.mechanism", args.sasl_mechanism),
                       ("sasl.username", args.sasl_username), ("sasl.password", args.sasl_password),
                       ("ssl.ca.location", args.ssl_cafile)):
        if value:
            conf[key] = value
    for option in args.producer_option:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ConfigError(f"--producer-option {option!r} is not KEY=VALUE")
        conf[key.strip()] = value.strip()
    return bootstrap, conf


async def _until_signalled(start: Callable[[asyncio.Event], Awaitable[Any]]) -> Any:
    """Run ``start(stop)``; SIGTERM and SIGINT set ``stop``, so the run ends cleanly (truth and checkpoint
    written, producer flushed) when a container or a person stops it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await start(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def handler(args: argparse.Namespace) -> int:
    """Run the generator; 0 when everything was delivered, 1 on delivery failures, 2 on bad options."""
    from aiops.pipeline.tools.generator.produce import run

    try:
        settings = load_settings(args.config) if args.config else None
        config = config_from_args(args, settings)
        bootstrap, conf = producer_conf_from_args(args, settings)
        if args.duration < 0:
            raise ConfigError(f"--duration must be >= 0 (got {args.duration})")
        from aiops.pipeline.kafka_access import check_conf

        check_conf({"bootstrap.servers": bootstrap, **conf})  # a broker down or a refused login: one line
        counts = asyncio.run(_until_signalled(lambda stop: run(
            config, bootstrap=bootstrap, duration_s=args.duration or None, rate_multiplier=args.rate_multiplier,
            truth_path=args.truth, checkpoint_path=args.checkpoint, producer_conf=conf, stop=stop)))
    except AiopsError as exc:
        print(f"aiops generate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(json.dumps(counts.as_dict()))
    return 0 if counts.delivery_errors == 0 and counts.undelivered == 0 else 1
