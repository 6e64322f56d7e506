"""Running the worker: settings, topics, the Faust worker, the web endpoints, hot reload."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import faust
import structlog
from aiohttp import web

from aiops.detectors.core.errors import ConfigError
from aiops.detectors.logs.intelligence import keeping_running, restart_keys
from aiops.pipeline.app import Worker
from aiops.pipeline.config import Settings, load_settings
from aiops.pipeline.gc_tuning import tune_for_batches
from aiops.pipeline.logsetup import configure_logging
from aiops.pipeline.self_metrics import CONTENT_TYPE
from aiops.pipeline.topics import ensure_topics

if TYPE_CHECKING:
    from aiops.pipeline.alerting_bridge import AlertingRuntime

log = structlog.get_logger(__name__)


def worker_with_alerting(settings: Settings, **worker_options) -> tuple[Worker, AlertingRuntime]:
    """A Worker and the alerting runtime it talks to through their link (``aiops.alerting.outbox``); neither holds
    the other. The runtime's ``serve`` and ``tick`` still have to run (``build_worker`` makes them app tasks)."""
    from aiops.pipeline.alerting_bridge import AlertingRuntime

    alerting = AlertingRuntime(settings)
    worker = Worker(settings, link=alerting.link, learn_filter=alerting.should_learn,
                    alerting_metrics=lambda: alerting, **worker_options)
    return worker, alerting


def build_worker(settings: Settings, *, config_path: str | None = None) -> Worker:
    """A Worker with its agents, its alerting runtime, web endpoints and (when a file is given) hot reload."""
    worker, alerting = worker_with_alerting(settings)
    app = worker.build()
    app.task(alerting.serve)

    @app.timer(1.0)
    async def alerting_tick() -> None:
        await alerting.tick()

    @app.task
    async def serve_web() -> None:
        await start_web(worker, alerting)

    @app.task
    async def probe_broker() -> None:
        await worker.broker_probe.run()

    if config_path:
        @app.task
        async def watch_config() -> None:
            await reload_on_change(worker, config_path, alerting=alerting)

    return worker


def web_application(worker: Worker, alerting: AlertingRuntime | None = None) -> web.Application:
    """/metrics (Prometheus text), /health, /healthz, /ready, and the alerting API under /api; every route with its
    scope."""
    from aiops.alerting.auth import PUBLIC, TOKENS_KEY, TokenBook, add_route, authenticate

    def health() -> dict:
        extra = {"alerts_raised": alerting.alerts_raised, "notifications": alerting.notifications} if alerting else {}
        ingest = {f"ingest_{k}": v for k, v in worker.normaliser.guard.stats().items()}
        return worker.stats.as_dict() | ingest | extra | {"owns_alerting": worker.owns_alerting,
                                                          "partitions": sorted(worker.events_owned)}

    if alerting is not None:
        app = alerting.web_app(health=health)
    else:
        app = web.Application(middlewares=[authenticate])
        app[TOKENS_KEY] = TokenBook.from_config(worker.settings.alerting.api)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=worker.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **health()})

    async def live(request: web.Request) -> web.Response:
        """Liveness: the event loop answers (nothing else is read, so neither a restore nor scoring delays it)."""
        return web.json_response({"status": "ok"})

    async def ready(request: web.Request) -> web.Response:
        """200 while the broker answers and the assigned partitions' state is restored; 503 otherwise."""
        restored, broker = worker.ready, worker.broker_probe.reachable
        ok = restored and broker
        return web.json_response({"ready": ok, "state_restored": restored, "broker_reachable": broker},
                                 status=200 if ok else 503)

    add_route(app, "GET", "/metrics", metrics, PUBLIC if worker.settings.alerting.api.public_metrics else "read")
    add_route(app, "GET", "/ready", ready, PUBLIC)
    add_route(app, "GET", "/health", live, PUBLIC)
    if alerting is None:
        add_route(app, "GET", "/healthz", healthz, PUBLIC)
    return app


async def start_web(worker: Worker, alerting: AlertingRuntime | None = None) -> web.AppRunner:
    """Serve ``web_application`` on ``worker.web_host:web_port``."""
    s = worker.settings.worker
    runner = web.AppRunner(web_application(worker, alerting), access_log=None)
    await runner.setup()
    if s.web_port:
        await web.TCPSite(runner, s.web_host, s.web_port).start()
        log.info("web.started", url=f"http://{s.web_host}:{s.web_port}")
    return runner


async def reload_on_change(worker: Worker, path: str, *, interval_s: float = 2.0,
                           alerting: AlertingRuntime | None = None) -> None:
    """Apply a changed configuration file without a restart; keep the old one if the new one is invalid."""
    last = _mtime(path)
    while True:
        await asyncio.sleep(interval_s)
        current = _mtime(path)
        if current == last:
            continue
        last = current
        try:
            settings = load_settings(path)
        except ConfigError as exc:
            log.error("config.rejected", path=path, error=str(exc))
            continue
        await apply_settings(worker, settings, alerting=alerting)


#: Sections a running worker cannot take over: a changed one is logged (``config.restart_needed``) and kept.
RESTART_SECTIONS = ("kafka", "topics", "worker", "ingest", "score_output")


async def apply_settings(worker: Worker, settings: Settings, *, alerting: AlertingRuntime | None = None) -> list[str]:
    """Apply what can change in place; return the changed sections that need a restart.

    Logging (level, format), detection, log intelligence and alerting are applied, the scorer and the
    alerting state under the worker's state lock (no batch is scored and no snapshot taken half-way).
    Kafka, topics, worker, ingest and score output settings, and how log lines are keyed and mined
    (``logs.source_label``, ``logs.rules_label``, ``logs.mining``), keep their running values until a restart,
    and say so.
    """
    restart_needed = [name for name in RESTART_SECTIONS if getattr(settings, name) != getattr(worker.settings, name)]
    restart_needed += restart_keys(worker.settings.logs, settings.logs)
    if settings.logging != worker.settings.logging:
        configure_logging(settings.logging.level, settings.logging.format)
    running = {name: getattr(worker.settings, name) for name in restart_needed if "." not in name}
    running["logs"] = keeping_running(worker.settings.logs, settings.logs)
    effective = settings.model_copy(update=running)
    async with worker._state_lock:
        worker.settings = effective
        if worker.scorer is not None:
            worker.scorer.engine.reconfigure(settings.detection)
            if worker.scorer.log_intelligence is not None:
                worker.scorer.log_intelligence.reconfigure(effective.logs)
        if alerting is not None:
            alerting.reconfigure(effective)
    if restart_needed:
        log.warning("config.restart_needed", sections=restart_needed,
                    why="these settings keep their running values until the worker restarts")
    log.info("config.applied", hash=settings.digest(), restart_needed_for=restart_needed or None)
    return restart_needed


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def run_worker(config_path: str | None, *, create_topics: bool = True) -> int:
    from aiops.alerting.auth import TokenBook, check_exposure

    settings = load_settings(config_path)
    configure_logging(settings.logging.level, settings.logging.format)
    if settings.worker.web_port:
        check_exposure(settings.worker.web_host, TokenBook.from_config(settings.alerting.api))
    log.info("config.applied", hash=settings.digest(), path=config_path)
    Path(settings.worker.data_dir).mkdir(parents=True, exist_ok=True)
    from aiops.pipeline.kafka_access import check_access

    check_access(settings.kafka)  # a broker down, a wrong password or an untrusted certificate: one line
    if create_topics:
        ensure_topics(settings)
    worker = build_worker(settings, config_path=config_path)
    tune_for_batches()  # after start-up: what it made is frozen out of every collection
    faust_worker = faust.Worker(
        worker.app,
        loglevel="WARN" if settings.logging.level != "debug" else "INFO",
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
        console_port=0,
    )
    faust_worker.spinner = None  # a terminal spinner would mix escape codes into the alert output
    faust_worker.execute_from_commandline()
    return 0
