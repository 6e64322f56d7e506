"""Settings of log intelligence: template mining, log detectors, security detectors.

>>> cfg = LogsConfig.model_validate({"rare_template": {"warmup_events": 50}})
>>> cfg.rare_template.warmup_events, cfg.mining.drain.sim_th
(50, 0.6)
>>> LogsConfig.model_validate({"detectors": {"rare_templates": {}}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for LogsConfig
detectors
  Value error, rare_templates: unknown log detector 'rare_templates'; known: error_burst, ...
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aiops.detectors.config import describe_problems
from aiops.detectors.logs.templates_config import MiningConfig, compiling_pattern
from aiops.detectors.security.config import SecurityConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RareTemplateConfig(_Section):
    """New templates (never seen) and rare ones (seldom seen) of a source, after a warm-up: the old
    count-only check, off by default (``novelty`` judges new and rare templates with their content)."""

    enabled: bool = Field(False, description="run this detector")
    warmup_events: int = Field(200, ge=0, description="events of a source learned before new templates fire")
    rare_share: float = Field(0.002, ge=0, le=1, description="templates below this share of the source are rare")
    rare_max_count: int = Field(3, ge=0, description="and seen at most this many times before")
    levels: list[str] | None = Field(None, description="only lines at these levels fire (None: every level)")


class TemplateFrequencyConfig(_Section):
    """Per-window template counts of a source, scored against their own history."""

    enabled: bool = Field(True, description="run this detector")
    window_s: float = Field(60.0, gt=0, description="length of a count window")
    alpha: float = Field(0.1, gt=0, le=1, description="weight of the newest window in the running mean")
    warmup_windows: int = Field(5, ge=1, description="windows of a source before its counts are judged")
    z_threshold: float = Field(6.0, gt=0,
            description="z-score of a window's count against its running mean that fires")
    min_count: int = Field(5, ge=1, description="counts below this never fire")
    top_templates: int = Field(20, ge=1, description="templates given their own feature in the count events")
    lateness_s: float = Field(5.0, ge=0, description="a window closes this long after its end (by the clock)")


class ErrorBurstConfig(_Section):
    """Error-level lines of a source in the current window against past windows."""

    enabled: bool = Field(True, description="run this detector")
    window_s: float = Field(60.0, gt=0, description="length of a window")
    window_lines: int | None = Field(
        None, ge=2, description="count windows in lines instead of seconds (sampled or replayed logs)"
    )
    levels: list[str] = Field(default_factory=lambda: ["error", "critical"], description="levels counted as errors")
    alpha: float = Field(0.1, gt=0, le=1, description="weight of the newest window in the running mean")
    z_threshold: float = Field(4.0, gt=0,
            description="z-score of a window's error count against past windows that fires")
    min_errors: int = Field(5, ge=1, description="fewer errors in a window never fire")


class TemplateBurstConfig(_Section):
    """Error lines concentrated on one or two templates in the last lines of a source (a failure storm)."""

    enabled: bool = Field(False, description="run this detector")
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
    """Numeric parameters far outside their own history, per template and position.

    A value is judged against the range of the values kept: beyond it by ``decades`` orders of
    magnitude (a quantity: log scale), and a robust z-score of at least ``z_threshold`` in log space.
    Counters and sequential ids (positions whose integer values nearly always rise) are not judged."""

    enabled: bool = Field(True, description="run this detector")
    history: int = Field(256, ge=8, description="recent values kept per (template, position)")
    min_history: int = Field(30, ge=5,
            description="values of a (template, position) kept before its values are judged")
    z_threshold: float = Field(8.0, gt=0, description="robust z-score in log space a value needs to fire")
    decades: float = Field(1.0, ge=0, description="orders of magnitude beyond the kept range that a value must lie")
    max_distinct_share: float = Field(
        0.9, gt=0, le=1, description="integer positions rising from one value to the next more often are counters"
    )
    max_positions: int = Field(8, ge=1, description="numeric positions tracked per template")
    max_templates: int = Field(2000, ge=1, description="templates tracked per source")


class SequenceConfig(_Section):
    """DeepLog-style next-template check: is this template among the usual successors of the last ones?

    One unusual transition is not enough: a line is flagged when ``min_unusual`` of the last
    ``evidence_lines`` transitions of the source were unusual (a path the source does not take), and
    never on a sparse (sampled) source, whose consecutive lines are not consecutive events."""

    enabled: bool = Field(True, description="run this detector")
    min_unusual: int = Field(3, ge=1, description="unusual transitions among the last evidence_lines that flag")
    evidence_lines: int = Field(5, ge=1, description="last transitions of the source looked at")
    order: int = Field(2, ge=1, le=5, description="templates of context")
    top_candidates: int = Field(5, ge=1, description="successors counted as normal, by frequency")
    min_context: int = Field(30, ge=1, description="times a context must be seen before it judges")
    max_share: float = Field(0.01, gt=0, le=1, description="and the successor's share below this fires")
    max_contexts: int = Field(20_000, ge=1, description="contexts remembered per source")


class ContentTerm(_Section):
    """One class of words: a case-insensitive pattern and its log-odds weight."""

    pattern: str = Field("", description="case-insensitive regular expression of the class's words")
    weight: float = Field(0.0, description="log-odds added to a line's evidence when it matches")
    each_more: float = Field(0.0, description="added per further match (at most two more), 0: counted once")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return compiling_pattern(value)


_FAULT = (
    r"\b(?:errors?|fail(?:s|ed|ure|ing)?|fatal|panic|exceptions?|abort(?:ed|ing)?|crash(?:ed)?|"
    r"corrupt(?:ed|ion)?|timed? ?out|refused|unreachable|severed|reset by peer|broken pipe|segfault|"
    r"segmentation fault|out of memory|oom|killed|deadlock|unrecoverable|cannot|can ?not|can't|unable to|"
    r"lost|died|terminated|overflow|unexpected|not responding|stopping)\b"
)
_HARDWARE = (
    r"\b(?:interrupt|machine check|parity|ecc|i/o error|input/output error|kernel|hardware|link|mount|tlb|"
    r"disk|memory|network|packet|socket|node)\b"
)
_CLIENT = (
    r"no such file|not found|permission denied|exec format|invalid argument|unauthori[sz]ed|forbidden|"
    r"does not exist|bad request|program image"
)
_DUMP = (
    r"\.{4,}\s*\S*$|^[\w .()/,'-]{1,40}:\s*(?:<HEX>|0x[0-9a-f]+|\d+)\s*$|"
    r"(?:\b\w+=(?:<HEX>|0x[0-9a-f]+)\s*){2,}|^\s*at [\w.$<>]+\("
)


class ContentConfig(_Section):
    """What a line's words say, as log-odds added to its evidence (see ``detectors/logs/content.py``)."""

    fault: ContentTerm = ContentTerm(pattern=_FAULT, weight=1.5, each_more=0.5)
    hardware: ContentTerm = ContentTerm(pattern=_HARDWARE, weight=1.0)
    client: ContentTerm = ContentTerm(pattern=_CLIENT, weight=-2.0)
    dump: ContentTerm = ContentTerm(pattern=_DUMP, weight=-3.0)
    extra: dict[str, ContentTerm] = Field(default_factory=dict, description="more classes, by name")


class NoveltyConfig(_Section):
    """The line judge: level, content and template novelty as log-odds; episodes per template.

    A line's evidence is its level's weight (scaled by how informative that level is in the
    source: a level most normal lines carry says little), plus its content prior, plus the novelty
    of its template (a new template weighs by how seldom the source meets new ones; a known one
    less as it recurs in ordinary lines, and a familiar one counts against). At ``threshold`` the
    line opens an episode of its template: one alert; the template's next lines belong to it,
    until the source has been quiet of it (``quiet_lines`` and ``quiet_s``), or until
    ``accept_after`` ordinary lines of the source came in between (the pattern is then normal), or
    until it has ``accept_lines`` lines (or lasted ``accept_s`` seconds, when set): a long storm of
    one pattern is the new normal, as a metric episode is accepted after its horizon; it paged once."""

    enabled: bool = Field(True, description="judge each line (off: no line episodes)")
    threshold: float = Field(3.0, description="evidence (log-odds) at which a line opens an episode")
    level_weights: dict[str, float] = Field(
        default_factory=lambda: {"critical": 2.0, "error": 1.0, "warning": -0.5, "info": -2.0, "debug": -3.0}
    , description="log-odds a line's level adds to its evidence, by level")
    unknown_level_weight: float = Field(-2.0, description="log-odds of a level not in level_weights")
    warmup_lines: int = Field(100, ge=1, description="lines of a source before a new template weighs in full")
    young_lines: int = Field(30, ge=1, description="positive evidence of a younger source is scaled down")
    new_max: float = Field(2.5, ge=0, description="most a new template adds (a source that seldom meets new ones)")
    rare_weight: float = Field(1.0, ge=0, description="added for a known template not yet familiar")
    familiar_after: int = Field(10, ge=1, description="ordinary recurrences that make a template familiar")
    familiar_weight: float = Field(3.0, ge=0, description="subtracted for a familiar template")
    accept_after: int = Field(10, ge=1, description="ordinary lines of the source during an episode that accept it")
    accept_lines: int = Field(
        60, ge=1, description="an episode with this many lines is accepted: a storm of one pattern that long is the "
        "source's new normal (it paged once; its later lines are not flagged, nor counted as error bursts)",
    )
    accept_s: float | None = Field(
        None, gt=0, description="an episode open this long is accepted too, as a metric episode after its horizon "
        "(None: no time bound; on a sampled stream a storm of a few dozen lines spans hours or days)",
    )
    ordinary_below: float = Field(-1.0, description="a line below this evidence is ordinary")
    context_lines: int = Field(20, ge=1, description="recent lines that tell an ordinary context from a storm")
    quiet_lines: int = Field(30, ge=1, description="an episode ends after this many lines of the source without it")
    quiet_s: float = Field(600.0, ge=0, description="and this long")
    max_templates: int = Field(20_000, ge=10, description="templates remembered per source")


class StreamConfig(_Section):
    """How a source's stream is read: sparse (sampled, a line now and then) or continuous, decided online."""

    sparse_gap_s: float = Field(
        30.0, gt=0, description="a source whose typical gap between lines is longer is sparse (sampled)"
    )
    min_lines: int = Field(20, ge=2, description="lines before the decision is made (continuous until then)")


class LogsConfig(_Section):
    """Everything log intelligence does, per source (by default a source is one host+service series)."""

    source_label: str | None = Field(
        None, description="label whose value is the source key; None: the event's series id (host+service)"
    )
    rules_label: str = Field("service", description="label whose value selects per-source masking rules")
    learn_only_older_than_s: float | None = Field(
        None,
        gt=0,
        description="lines whose event time is this far behind the clock on arrival are learned, not judged: "
        "a replayed history or a backfill teaches the detectors and raises nothing (None: every line is judged)",
    )
    mining: MiningConfig = MiningConfig()
    novelty: NoveltyConfig = NoveltyConfig()
    content: ContentConfig = ContentConfig()
    stream: StreamConfig = StreamConfig()
    rare_template: RareTemplateConfig = RareTemplateConfig()
    template_frequency: TemplateFrequencyConfig = TemplateFrequencyConfig()
    error_burst: ErrorBurstConfig = ErrorBurstConfig()
    template_burst: TemplateBurstConfig = TemplateBurstConfig()
    parameter: ParameterConfig = ParameterConfig()
    sequence: SequenceConfig = SequenceConfig()
    security: SecurityConfig = SecurityConfig()
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict,
        description="log detectors installed as plugins, by name: each one's settings, checked against its own "
                    "model (the built-in ones are set under their own keys above)")

    @field_validator("detectors")
    @classmethod
    def _check_plugin_detectors(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from aiops.detectors.core.errors import ConfigError
        from aiops.detectors.logs.registry import BUILT_IN, config_model

        checked = {}
        for name, settings in value.items():
            if name in BUILT_IN:
                raise ValueError(f"{name}: a built-in log detector, set under logs.{name}")
            try:
                model = config_model(name)
            except ConfigError as exc:
                raise ValueError(f"{name}: {exc}") from None
            except ImportError as exc:
                raise ValueError(f"{name}: log detector {name!r} cannot be imported: {exc}") from None
            try:
                checked[name] = model.model_validate(settings).model_dump(mode="json")
            except ValidationError as exc:
                raise ValueError("; ".join(describe_problems(exc, name))) from None
        return checked

