"""Shared fixtures: a real Kafka-protocol broker, real worker processes against it, isolated log settings."""

from __future__ import annotations

import logging
import os

import pytest
import structlog

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.support.broker import BrokerHandle, start_broker  # noqa: E402
from tests.support.worker import WorkerFactory  # noqa: E402


@pytest.fixture(scope="session")
def broker() -> BrokerHandle:
    """One embedded Tansu broker for the whole run; tests isolate themselves with topic prefixes."""
    handle = start_broker()
    yield handle
    handle.stop()


@pytest.fixture
def workers(broker, tmp_path) -> WorkerFactory:
    """Start `aiops worker` processes against the session broker; all are stopped after the test."""
    factory = WorkerFactory(broker, tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(autouse=True)
def _log_settings_isolated():
    """A test that configures logging (every CLI command does) leaves the next test the defaults."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
