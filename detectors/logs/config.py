"""Settings of log intelligence: template mining, log detectors, security detectors.

>>> cfg = LogsConfig.model_validate({"rare_template": {"warmup_events": 50}})
>>> cfg.rare_template.warmup_events, cfg.mining.drain.sim_th
(50, 0.6)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aiops.detectors.security.config import SecurityConfig
from aiops.pipeline.templates_config import MiningConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RareTemplateConfig(_Section):
    """New templates (never seen) and rare ones (seldom seen) of a source, after a warm-up."""

    enabled: bool = True
    warmup_events: int = Field(200, ge=0, description="events of a source learned before new templates fire")
    rare_share: float = Field(0.002, ge=0, le=1, description="templates below this share of the source are rare")
    rare_max_count: int = Field(3, ge=0, description="and seen at most this many times before")
    levels: list[str] | None = Field(None, description="only lines at these levels fire (None: every level)")


class TemplateFrequencyConfig(_Section):
    """Per-window template counts of a source, scored against their own history."""

    enabled: bool = True
    window_s: float = Field(60.0, gt=0)
    alpha: float = Field(0.1, gt=0, le=1, description="weight of the newest window in the running mean")
    warmup_windows: int = Field(5, ge=1)
    z_threshold: float = Field(6.0, gt=0)
    min_count: int = Field(5, ge=1, description="counts below this never fire")
    top_templates: int = Field(20, ge=1, description="templates given their own feature in the count events")
    lateness_s: float = Field(5.0, ge=0, description="a window closes this long after its end (by the clock)")


class ErrorBurstConfig(_Section):
    """Error-level lines of a source in the current window against past windows."""

    enabled: bool = True
    window_s: float = Field(60.0, gt=0)
    window_lines: int | None = Field(
        None, ge=2, description="count windows in lines instead of seconds (sampled or replayed logs)"
    )
    levels: list[str] = Field(default_factory=lambda: ["error", "critical"])
    alpha: float = Field(0.1, gt=0, le=1)
    z_threshold: float = Field(4.0, gt=0)
    min_errors: int = Field(5, ge=1, description="fewer errors in a window never fire")


class TemplateBurstConfig(_Section):
    """Error lines concentrated on one or two templates in the last lines of a source (a failure storm)."""

    enabled: bool = False
    window_lines: int = Field(50, ge=2, description="lines of the source looked back over")
    levels: list[str] = Field(default_factory=lambda: ["critical"], description="levels judged and counted")
    min_share: float = Field(0.4, gt=0, le=1, description="the line's template holds at least this share of errors")
    min_concentration: float = Field(
        0.7, gt=0, le=1, description="or the errors' Simpson index (same-template chance) is at least this"
    )
    routine_count: int | None = Field(
        20, ge=1, description="a template seen this often in the lines before the window is routine (None: never)"
    )
    routine_lines: int = Field(1000, ge=1, description="lines before the window in which routine templates are counted")


class ParameterConfig(_Section):
    """Numeric parameters far outside their history (robust z-score per template and position)."""

    enabled: bool = True
    history: int = Field(256, ge=8, description="recent values kept per (template, position)")
    min_history: int = Field(30, ge=5)
    z_threshold: float = Field(8.0, gt=0)
    max_positions: int = Field(8, ge=1, description="numeric positions tracked per template")
    max_templates: int = Field(2000, ge=1, description="templates tracked per source")


class SequenceConfig(_Section):
    """DeepLog-style next-template check: is this template among the usual successors of the last ones?"""

    enabled: bool = True
    order: int = Field(2, ge=1, le=5, description="templates of context")
    top_candidates: int = Field(5, ge=1, description="successors counted as normal, by frequency")
    min_context: int = Field(30, ge=1, description="times a context must be seen before it judges")
    max_share: float = Field(0.01, gt=0, le=1, description="and the successor's share below this fires")
    max_contexts: int = Field(20_000, ge=1)


class LogsConfig(_Section):
    """Everything log intelligence does, per source (by default a source is one host+service series)."""

    source_label: str | None = Field(
        None, description="label whose value is the source key; None: the event's series id (host+service)"
    )
    rules_label: str = Field("service", description="label whose value selects per-source masking rules")
    mining: MiningConfig = MiningConfig()
    rare_template: RareTemplateConfig = RareTemplateConfig()
    template_frequency: TemplateFrequencyConfig = TemplateFrequencyConfig()
    error_burst: ErrorBurstConfig = ErrorBurstConfig()
    template_burst: TemplateBurstConfig = TemplateBurstConfig()
    parameter: ParameterConfig = ParameterConfig()
    sequence: SequenceConfig = SequenceConfig()
    security: SecurityConfig = SecurityConfig()
