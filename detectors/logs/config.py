"""Settings of log intelligence: template mining, log detectors, security detectors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LogsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
