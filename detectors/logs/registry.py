"""The log detectors known by name: the built-ins, plus those of plugins (entry-point group ``aiops.log_detector``).

Every entry is a class carrying its settings model as ``Config``. A built-in
is configured under its own key of the ``logs`` section (``logs.sequence``);
a plugin's under ``logs.detectors.<name>``, checked against its ``Config``.

A plugin log detector is one file: a class with ``name``, ``Config`` (a
pydantic model), ``__init__(config)`` and ``observe(event) -> Finding | None``,
called once per line of a source after its template is mined (``event.template_id``,
``event.template`` and ``event.params`` are set). Optional ``export_state() -> dict``
and ``import_state(dict)`` carry its learned state (plain values) across restarts; on a
settings change its ``config`` attribute is replaced and its state kept.

>>> LOG_DETECTORS.load("sequence").Config.__name__
'SequenceConfig'
>>> [n for n in LOG_DETECTORS.names() if n in BUILT_IN]
['error_burst', 'novelty', 'parameter', 'rare_template', 'sequence', 'template_burst', 'template_frequency']
>>> config_model("nope")
Traceback (most recent call last):
...
aiops.detectors.core.errors.ConfigError: unknown log detector 'nope'; known: error_burst, ...
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.registry import Registry

BUILT_IN = {
    "novelty": "aiops.detectors.logs.novelty:NoveltyJudge",
    "rare_template": "aiops.detectors.logs.rare_template:RareTemplateDetector",
    "template_frequency": "aiops.detectors.logs.template_frequency:TemplateFrequencyDetector",
    "error_burst": "aiops.detectors.logs.error_burst:ErrorBurstDetector",
    "template_burst": "aiops.detectors.logs.template_burst:TemplateBurstDetector",
    "parameter": "aiops.detectors.logs.parameter:ParameterDetector",
    "sequence": "aiops.detectors.logs.sequence:SequenceDetector",
}

LOG_DETECTORS = Registry("log_detector", BUILT_IN)


class LogDetector(Protocol):
    """What log intelligence asks of a plugin log detector (one instance per source)."""

    name: str

    def observe(self, event: Any) -> Any:  # an Event in, a Finding or None out
        ...


def config_model(name: str) -> type[BaseModel]:
    """The settings model of the log detector ``name`` (``ConfigError`` naming the known ones if none)."""
    known = LOG_DETECTORS.names()
    if name not in known:
        raise ConfigError(f"unknown log detector {name!r}; known: {', '.join(known)}")
    detector = LOG_DETECTORS.load(name)
    model = getattr(detector, "Config", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(f"log detector {name!r} has no Config model")
    return model
