"""Three small plugins as a third party would ship them, one file each: a detector bank, a log detector and an
input format, with the entry points that join them to the registries."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from aiops.detectors.config import PARAMS_MODELS
from aiops.detectors.logs.registry import LOG_DETECTORS
from aiops.detectors.registry import BANKS
from aiops.pipeline.normalise.formats import INPUT_FORMATS
from tests.support.plugin_dist import install_plugin, plugin_on_path

LEVEL_BANK = '''"""Distance of each feature from its running mean, in units of a fixed scale."""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from aiops.detectors.array_bank import BankParams, BaselineBank
from aiops.detectors.base import BankScores


class LevelParams(BankParams):
    alpha: float = Field(0.05, gt=0.0, le=1.0, description="weight of a new point in the running mean")
    clip: float | None = Field(None, description="learning clips residuals beyond this many sds")
    rel_floor: float = Field(1e-3, ge=0.0, description="sd floor relative to the level")
    abs_floor: float = Field(1e-9, ge=0.0, description="absolute sd floor")
    scale: float = Field(1.0, gt=0.0, description="the distance that scores 1")


class LevelBank(BaselineBank):
    """|x - mean| / scale per feature; a row's raw score is its largest."""

    name: ClassVar[str] = "level"
    Params: ClassVar[type[BankParams]] = LevelParams
    params: LevelParams

    def score(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray) -> BankScores:
        rows = self._rows(series, features, X)
        mean = self.store.arrays["mean"][rows]
        distance = np.abs(X - mean) / self.params.scale
        distance = np.where(np.isfinite(distance), distance, 0.0)
        return BankScores(raw=distance.max(axis=1), per_feature=distance * distance,
                          expected_low=mean - self.params.scale, expected_high=mean + self.params.scale)

    def learn(self, series: Sequence[str], X: np.ndarray, features: Sequence[str], times: np.ndarray,
              mask: np.ndarray) -> None:
        self._learn_baseline(self._rows(series, features, X)[mask], X[mask])
'''

KEYWORD_DETECTOR = '''"""Lines that hold one of a few words."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aiops.detectors.logs.finding import Finding


class KeywordConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    words: list[str] = Field(default_factory=lambda: ["meltdown"], description="words that flag a line")
    score: float = Field(0.99, gt=0.0, lt=1.0, description="the score of a flagged line")


class KeywordDetector:
    """Flags a line holding one of ``words``; counts the lines it flagged (its state)."""

    name = "keyword"
    Config = KeywordConfig

    def __init__(self, config: KeywordConfig) -> None:
        self.config = config
        self.hits = 0

    def observe(self, event):
        text = event.message.lower()
        word = next((w for w in self.config.words if w in text), None)
        if word is None:
            return None
        self.hits += 1
        return Finding(kind="keyword", detector=self.name, score=self.config.score, threshold=0.9,
                       reason=f"{word!r} in template {event.template!r}", time=event.time,
                       values={"hits": float(self.hits)})

    def export_state(self) -> dict:
        return {"hits": self.hits}

    def import_state(self, state: dict) -> None:
        self.hits = int(state["hits"])
'''

CSV_FORMAT = '''"""Metric lines as ``name,value,timestamp`` (timestamp optional), with fixed labels."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aiops.detectors.core.errors import InputError
from aiops.pipeline.normalise.records import MetricPoint


class CsvParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    separator: str = Field(",", min_length=1, description="between the columns")
    labels: dict[str, str] = Field(default_factory=dict, description="labels of every point")


class CsvMetrics:
    kind = "metrics"
    Params = CsvParams

    def __init__(self, params: CsvParams) -> None:
        self.params = params

    def parse_line(self, text, *, now, zone):
        parts = [p.strip() for p in text.split(self.params.separator)]
        if len(parts) not in (2, 3) or not parts[0]:
            raise InputError(f"expected name{self.params.separator}value[{self.params.separator}timestamp]")
        try:
            value = float(parts[1])
        except ValueError:
            raise InputError(f"value {parts[1][:20]!r} is not a number") from None
        stamp = float(parts[2]) if len(parts) == 3 and parts[2] else None
        return MetricPoint(parts[0], dict(self.params.labels), {"value": value}, stamp)
'''

MODULES = {"level_plugin.py": LEVEL_BANK, "keyword_plugin.py": KEYWORD_DETECTOR, "csv_plugin.py": CSV_FORMAT}
ENTRY_POINTS = {
    "aiops.detector": {"level": "level_plugin:LevelBank"},
    "aiops.log_detector": {"keyword": "keyword_plugin:KeywordDetector"},
    "aiops.input_format": {"csv": "csv_plugin:CsvMetrics"},
}
REGISTRIES = (BANKS, PARAMS_MODELS, LOG_DETECTORS, INPUT_FORMATS)


def install_samples(root: Path) -> Path:
    """The three plugins installed under ``root/site`` (the folder to put on a path)."""
    return install_plugin(root, "aiops-sample-plugins", MODULES, ENTRY_POINTS)


@contextmanager
def samples_active(site: Path) -> Iterator[None]:
    """The plugins of ``site`` importable and in the registries for the block; gone after it."""
    with plugin_on_path(site):
        for registry in REGISTRIES:
            registry.refresh()
        try:
            yield
        finally:
            for registry in REGISTRIES:
                registry.refresh()
