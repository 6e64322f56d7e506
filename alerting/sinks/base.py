"""What every sink is: a config model, ``async send(notification)`` and ``async close()``.

A sink raises ``RetryableDeliveryError`` when a later try may succeed
(timeouts, refused connections, 5xx, 429) and ``PermanentDeliveryError`` when
it never will (other 4xx, a payload the receiver rejects). ``RetryAfter`` is
the retryable error of a receiver that said how long to wait.

>>> err = RetryAfter("slack answered 429", retry_after_s=3.0)
>>> isinstance(err, RetryableDeliveryError), err.retry_after_s
(True, 3.0)
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from aiops.alerting.alert import Notification
from aiops.detectors.core.errors import RetryableDeliveryError


class RetryAfter(RetryableDeliveryError):
    """Retryable, and the receiver asked to wait at least ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SinkConfig(BaseModel):
    """Fields shared by every sink config; each kind adds ``type: Literal[kind]`` and its own."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="label in logs and metrics; defaults to the kind")
    timeout_s: float = Field(10.0, gt=0, description="longest wait for one send")


@runtime_checkable
class Sink(Protocol):
    """One destination of notifications."""

    kind: ClassVar[str]

    async def send(self, notification: Notification) -> None: ...

    async def close(self) -> None: ...
