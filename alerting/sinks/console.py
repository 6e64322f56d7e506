"""Human-readable lines on a terminal, for the demo; colour only when writing to a tty.

Each alert says why: what was seen against what was expected, the detectors
that fired, and when its episode began (and ended, and why). Times are ISO
8601 UTC.

>>> import io
>>> from aiops.alerting.alert import Alert, Notification
>>> a = Alert.firing(labels={"alertname": "AnomalyDetected"}, annotations={"summary": "cpu high"},
...                  starts_at=0.0, severity="error", score=0.97)
>>> out = io.StringIO()
>>> sink = ConsoleSink(ConsoleSinkConfig(), writer=out)
>>> import asyncio; asyncio.run(sink.send(Notification("sre", "g", {"alertname": "AnomalyDetected"}, [a])))
>>> print(out.getvalue(), end="")
sre [FIRING:1] AnomalyDetected
  error cpu high (score 0.970, since 1970-01-01T00:00:00Z)
    episode began 1970-01-01T00:00:00Z
"""

from __future__ import annotations

import sys
from typing import ClassVar, Literal, TextIO

from pydantic import Field

from aiops.alerting.alert import Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.render import alert_line, explanation, title
from aiops.detectors.core.errors import RetryableDeliveryError

_COLOURS = {"critical": "\033[1;31m", "error": "\033[31m", "warning": "\033[33m", "info": "\033[36m",
            "resolved": "\033[32m"}
_RESET = "\033[0m"


class ConsoleSinkConfig(SinkConfig):
    type: Literal["console"] = Field("console", description="selects the console sink")
    stream: Literal["stdout", "stderr"] = Field("stdout", description="where it writes")
    colour: bool | None = Field(None, description="force colour on/off; default: only on a tty")


class ConsoleSink:
    """Writes a title line and one indented line per alert."""

    kind: ClassVar[str] = "console"
    config_model: ClassVar[type[SinkConfig]] = ConsoleSinkConfig

    def __init__(self, config: ConsoleSinkConfig, *, writer: TextIO | None = None) -> None:
        self.config = config
        self.writer = writer if writer is not None else getattr(sys, config.stream)
        is_tty = bool(getattr(self.writer, "isatty", lambda: False)())
        self.colour = is_tty if config.colour is None else config.colour

    def _paint(self, text: str, key: str) -> str:
        return f"{_COLOURS.get(key, '')}{text}{_RESET}" if self.colour and key in _COLOURS else text

    async def send(self, notification: Notification) -> None:
        head = self._paint(title(notification), "resolved" if notification.status == "resolved" else "error")
        lines = [f"{notification.receiver} {head}"]
        for alert in notification.alerts:
            key = "resolved" if alert.status == "resolved" else alert.severity
            lines.append("  " + self._paint(alert_line(alert), key))
            lines.extend(f"    {line}" for line in explanation(alert))
        try:
            self.writer.write("\n".join(lines) + "\n")
            self.writer.flush()
        except OSError as exc:
            raise RetryableDeliveryError(f"console: {exc}") from exc

    async def close(self) -> None:
        return None
