"""Settings of the detection layer (detectors, calibration, ensemble)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DetectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
