"""Settings of log template mining: masking rules and Drain parameters.

>>> cfg = MiningConfig.model_validate({"sources": {"sshd": {"masking": [
...     {"name": "USER", "pattern": r"(?<=user )\\S+"}]}}})
>>> cfg.for_source("sshd").masking[0].name, cfg.for_source("nginx").masking
('USER', [])
>>> MiningConfig.model_validate({"drain": {"sim_th": 2}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for MiningConfig
drain.sim_th
  Input should be less than or equal to 1 [type=less_than_equal, input_value=2, input_type=int]
...
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator


def compiling_pattern(value: str) -> str:
    """``value`` if it compiles as a regular expression, else ``ValueError`` saying why (for validators).

    >>> compiling_pattern("a+"), compiling_pattern("(")
    Traceback (most recent call last):
    ...
    ValueError: not a valid regular expression: missing ), unterminated subpattern at position 0
    """
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


class MaskingRule(BaseModel):
    """One masking rule: text matching ``pattern`` becomes the placeholder ``<name>``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_*][A-Za-z0-9_]*$",
            description="placeholder the matched text becomes (<name>)")
    pattern: str = Field(description="regular expression of the text to mask")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return compiling_pattern(value)


class DrainSettings(BaseModel):
    """The parameters of the Drain prefix tree (see Drain3's ``Drain``)."""

    model_config = ConfigDict(extra="forbid")

    sim_th: float = Field(0.6, ge=0.0, le=1.0, description="least share of equal tokens to join a template")
    depth: int = Field(4, ge=3, le=10, description="depth of the prefix tree (Drain3 meaning)")
    max_children: int = Field(100, ge=2, description="most children of a node of the prefix tree (Drain3 meaning)")
    max_clusters: int | None = Field(None, ge=1, description="least recently used templates beyond this are dropped")
    extra_delimiters: list[str] = Field(default_factory=list,
            description="characters that split tokens besides whitespace")


class SourceMining(BaseModel):
    """Per-source additions: extra masking rules (applied before the defaults) and Drain overrides."""

    model_config = ConfigDict(extra="forbid")

    masking: list[MaskingRule] = Field(default_factory=list,
            description="masking rules of this source, applied before the built-in ones")
    drain: DrainSettings | None = None
    default_masking: bool = Field(True, description="also apply the built-in masking rules")


class MiningConfig(BaseModel):
    """How log messages become templates: one miner per source key."""

    model_config = ConfigDict(extra="forbid")

    source_label: str = Field("service", description="event label whose value picks the miner (one per value)")
    drain: DrainSettings = DrainSettings()
    sources: dict[str, SourceMining] = Field(default_factory=dict,
            description="per-source masking rules and Drain overrides, by the value of the source label")
    max_message_chars: int = Field(4096, ge=16, description="longer messages are cut before mining")

    def for_source(self, source: str) -> SourceMining:
        """The settings of one source (empty additions for an unlisted one)."""
        return self.sources.get(source, SourceMining())

    def drain_for(self, source: str) -> DrainSettings:
        return self.for_source(source).drain or self.drain
