"""Shared fixtures: a real Kafka-protocol broker, and real worker processes against it."""

from __future__ import annotations

import os

import pytest

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
