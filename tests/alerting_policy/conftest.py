"""Fixtures of the alert policy tests."""

from __future__ import annotations

import pytest

from tests.alerting_policy.builders import DeliveryRecorder


@pytest.fixture
def recorder() -> DeliveryRecorder:
    return DeliveryRecorder()
