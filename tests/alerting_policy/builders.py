"""Builders for the alert policy tests: anomalies, configs, policies and a delivery recorder."""

from __future__ import annotations

import itertools
from typing import Any

from aiops.alerting.alert import Notification
from aiops.alerting.config import AlertingConfig
from aiops.alerting.feedback import LinkSigner
from aiops.alerting.policy import AlertPolicy
from aiops.detectors.core.shapes import Anomaly

_ids = itertools.count()


def anomaly(host: str = "web-1", *, time: float = 100.0, score: float = 0.97, metric: str = "cpu",
            kind: str = "point", **labels: str) -> Anomaly:
    """An explained anomaly of ``metric`` on ``host``."""
    all_labels = {"host": host, **labels}
    tags = ",".join(f"{k}={v}" for k, v in sorted(all_labels.items()))
    return Anomaly(id=f"a{next(_ids)}", source="metric", series_id=f"{metric}|{tags}", labels=all_labels,
                   time=time, values={"user": 97.0}, score=score, threshold=0.9, severity="error",
                   detectors={"zscore": score}, contributions={"user": 1.0}, expected={"user": (10.0, 30.0)},
                   kind=kind, reason=f"user=97 outside expected 10..30 (zscore {score:.2f})")


def config(**overrides: Any) -> AlertingConfig:
    base: dict[str, Any] = {"route": {"group_wait_s": 10, "group_interval_s": 60, "repeat_interval_s": 600,
                                      "group_by": ["host"]},
                            "policy": {"resolve_after_s": 120}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return AlertingConfig.model_validate(base)


def policy(**overrides: Any) -> AlertPolicy:
    return AlertPolicy(config(**overrides), signer=LinkSigner(b"test-secret-0123456789"))


class DeliveryRecorder:
    """Implements ``Delivery.submit`` by keeping what it is given."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def submit(self, notification: Notification) -> None:
        self.sent.append(notification)
