"""A configuration reload: applied under the worker's state lock; logging applied; restart-only sections named."""

from __future__ import annotations

import asyncio
import json
import logging

import structlog
from structlog.testing import capture_logs

from aiops.pipeline.alerting_bridge import AlertingRuntime
from aiops.pipeline.app import Worker
from aiops.pipeline.config import Settings
from aiops.pipeline.runner import apply_settings, worker_with_alerting


def worker_with_scorer(settings: Settings) -> tuple[Worker, AlertingRuntime]:
    worker, alerting = worker_with_alerting(settings)
    worker.ensure_scorer()
    return worker, alerting


def changed(settings: Settings, **sections) -> Settings:
    data = settings.model_dump()
    for name, values in sections.items():
        data[name] = {**data[name], **values}
    return Settings.model_validate(data)


async def test_reload_waits_for_the_state_lock():
    worker, alerting = worker_with_scorer(Settings())
    engine = worker.scorer.engine
    before = engine.config
    new = changed(worker.settings, detection={"threshold": 0.9999})
    async with worker._state_lock:  # a batch being scored, or a snapshot being taken
        task = asyncio.ensure_future(apply_settings(worker, new, alerting=alerting))
        await asyncio.sleep(0.1)
        assert not task.done()
        assert engine.config is before and worker.settings.detection.threshold != 0.9999
    assert await asyncio.wait_for(task, 5) == []
    assert worker.settings.detection.threshold == 0.9999
    assert engine.config is not before
    assert alerting.settings.detection.threshold == 0.9999  # the alerting runtime took the new file too


async def test_log_settings_are_applied(capsys):
    worker = Worker(Settings())
    await apply_settings(worker, changed(worker.settings, logging={"level": "warning", "format": "console"}))
    assert logging.getLogger().level == logging.WARNING
    structlog.get_logger("t").info("quiet.now")
    structlog.get_logger("t").warning("still.heard", n=1)
    err = capsys.readouterr().err
    assert "quiet.now" not in err
    line = next(x for x in err.splitlines() if "still.heard" in x)
    try:
        json.loads(line)
    except ValueError:
        pass
    else:
        raise AssertionError(f"console format expected, got JSON: {line}")


async def test_sections_that_need_a_restart_are_named_and_keep_their_running_values():
    worker = Worker(Settings())
    running = worker.settings.worker.batch_size
    new = changed(worker.settings, worker={"batch_size": running + 7}, ingest={"max_series": 5})
    with capture_logs() as logs:
        needed = await apply_settings(worker, new)
    assert needed == ["worker", "ingest"]
    warning = next(x for x in logs if x["event"] == "config.restart_needed")
    assert warning["log_level"] == "warning" and warning["sections"] == ["worker", "ingest"]
    assert worker.settings.worker.batch_size == running
    assert worker.settings.ingest.max_series == Settings().ingest.max_series


async def test_a_changed_score_output_says_it_needs_a_restart():
    """The score writer is built at start; a reload that changes it keeps the running one and says so."""
    worker = Worker(Settings())
    new = changed(worker.settings, score_output={"enabled": True, "url": "http://127.0.0.1:9", "org": "o",
                                                 "bucket": "b", "token": "t"})
    with capture_logs() as logs:
        needed = await apply_settings(worker, new)
    assert needed == ["score_output"]
    assert next(x for x in logs if x["event"] == "config.restart_needed")["sections"] == ["score_output"]
    assert worker.settings.score_output == Settings().score_output


def _log(message: str, time: float, host: str = "h1"):
    from aiops.detectors.core.shapes import Event

    return Event(source="log", series_id=f"{host}/app", labels={"host": host, "service": "app"}, time=time,
                 features={}, message=message, level="error", ingest_time=time)


async def test_a_changed_log_setting_applies_to_sources_already_learned():
    """A reload reaches the log detectors of every known source: new thresholds, detectors switched on and off."""
    worker, _ = worker_with_scorer(changed(Settings(), logs={"sequence": {"enabled": False}}))
    logs = worker.scorer.log_intelligence
    logs.process([_log("disk error on sda", 1000.0 + i) for i in range(20)], now=1100.0)
    (state,) = logs._sources.values()
    assert state.sequence is None and state.errors.config.min_errors == Settings().logs.error_burst.min_errors
    new = changed(worker.settings, logs={"sequence": {"enabled": True}, "error_burst": {"min_errors": 99},
                                          "parameter": {"enabled": False}})
    needed = await apply_settings(worker, new)
    assert needed == []
    assert state.errors.config.min_errors == 99 and worker.settings.logs.error_burst.min_errors == 99
    assert state.sequence is not None and state.parameter is None
    assert logs.config.error_burst.min_errors == 99


async def test_how_log_lines_are_keyed_and_mined_needs_a_restart():
    worker, _ = worker_with_scorer(Settings())
    running = worker.settings.logs.rules_label
    new = changed(worker.settings, logs={"rules_label": "app", "error_burst": {"min_errors": 7}})
    with capture_logs() as logs:
        needed = await apply_settings(worker, new)
    assert needed == ["logs.rules_label"]
    assert next(x for x in logs if x["event"] == "config.restart_needed")["sections"] == ["logs.rules_label"]
    assert worker.settings.logs.rules_label == running == worker.scorer.log_intelligence.config.rules_label
    assert worker.settings.logs.error_burst.min_errors == 7  # the rest of the section applied
