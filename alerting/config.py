"""Settings of alerting: policy, routes, receivers (sinks) and remediation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
