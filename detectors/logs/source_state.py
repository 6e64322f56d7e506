"""Everything log intelligence keeps about one source: its miner and its detectors' state."""

from __future__ import annotations

from typing import Any

from aiops.detectors.logs.config import LogsConfig
from aiops.detectors.logs.episodes import EpisodeBook
from aiops.detectors.logs.error_burst import ErrorBurstDetector
from aiops.detectors.logs.novelty import NoveltyJudge
from aiops.detectors.logs.parameter import ParameterDetector
from aiops.detectors.logs.rare_template import RareTemplateDetector
from aiops.detectors.logs.registry import LOG_DETECTORS
from aiops.detectors.logs.sequence import SequenceDetector
from aiops.detectors.logs.stream_profile import StreamProfile
from aiops.detectors.logs.template_burst import TemplateBurstDetector
from aiops.detectors.logs.template_frequency import TemplateFrequencyDetector
from aiops.detectors.logs.templates import SourceMiner, pack_state, unpack_state
from aiops.detectors.security.bank import SecurityBank

_VERSION = 1


class SourceState:
    """The template miner and the detectors of one source key."""

    def __init__(self, key: str, rules_name: str, labels: dict[str, str], config: LogsConfig) -> None:
        self.key = key
        self.rules_name = rules_name
        self.labels = dict(labels)
        mining = config.mining
        self.miner = SourceMiner(
            key,
            mining.for_source(rules_name),
            mining.drain_for(rules_name),
            max_chars=mining.max_message_chars,
        )
        self.rare = RareTemplateDetector(config.rare_template) if config.rare_template.enabled else None
        self.frequency = (
            TemplateFrequencyDetector(config.template_frequency) if config.template_frequency.enabled else None
        )
        self.errors = ErrorBurstDetector(config.error_burst) if config.error_burst.enabled else None
        self.burst = TemplateBurstDetector(config.template_burst) if config.template_burst.enabled else None
        self.parameter = ParameterDetector(config.parameter) if config.parameter.enabled else None
        self.sequence = SequenceDetector(config.sequence) if config.sequence.enabled else None
        self.security = SecurityBank(config.security)
        self.novelty = NoveltyJudge(config.novelty) if config.novelty.enabled else None
        self.profile = StreamProfile(config.stream)
        self.books: dict[str, EpisodeBook] = {}
        self.content: dict[str, float] = {}
        self.without_auth: set[tuple[str, str]] = set()  # recent (service, message) without an auth event
        self.lines = 0
        self.plugins = plugin_detectors(config)

    def book(self, kind: str, config: LogsConfig) -> EpisodeBook:
        """The episodes of one detector kind in this source (they end, quiet or accepted, as the judge's)."""
        found = self.books.get(kind)
        if found is None:
            judge = config.novelty
            found = self.books[kind] = EpisodeBook(
                quiet_lines=judge.quiet_lines, quiet_s=judge.quiet_s, accept_lines=judge.accept_lines,
                accept_s=judge.accept_s,
            )
        return found

    def to_bytes(self) -> bytes:
        payload: dict[str, Any] = {
            "version": _VERSION,
            "key": self.key,
            "rules_name": self.rules_name,
            "labels": self.labels,
            "drain": self.miner.drain,
            "detectors": {
                "rare": self.rare,
                "frequency": self.frequency,
                "errors": self.errors,
                "burst": self.burst,
                "parameter": self.parameter,
                "sequence": self.sequence,
                "security": self.security,
                "novelty": self.novelty,
            },
            "profile": self.profile,
            "books": self.books,
            "content": self.content,
            "lines": self.lines,
        }
        plugins = {n: d.export_state() for n, d in self.plugins.items() if hasattr(d, "export_state")}
        if plugins:
            payload["plugins"] = plugins
        return pack_state(payload)

    @classmethod
    def from_bytes(cls, key: str, data: bytes, config: LogsConfig) -> SourceState:
        """Rebuild a source from a snapshot; masking rules come from the current settings."""
        payload = unpack_state(data, _VERSION, f"log state of {key!r}")
        state = cls(key, payload["rules_name"], payload["labels"], config)
        state.miner.drain = payload["drain"]
        detectors = payload["detectors"]
        state.rare = detectors["rare"]
        state.frequency = detectors["frequency"]
        state.errors = detectors["errors"]
        if "burst" in detectors:  # snapshots taken before the template-burst detector existed lack it
            state.burst = detectors["burst"]
        state.parameter = detectors["parameter"]
        state.sequence = detectors["sequence"]
        state.security = detectors["security"]
        if "novelty" in detectors:  # snapshots taken before the line judge existed lack it
            state.novelty = detectors["novelty"] if config.novelty.enabled else None
            state.profile = payload["profile"]
            state.books = payload["books"]
            state.content = payload["content"]
            state.lines = payload["lines"]
        for name, learned in payload.get("plugins", {}).items():
            detector = state.plugins.get(name)
            if detector is not None and hasattr(detector, "import_state"):
                detector.import_state(learned)
        state.apply_settings(config)
        return state

    def apply_settings(self, config: LogsConfig) -> None:
        """Give the detectors the current thresholds (their learned state stays); switch detectors on and off."""
        for attr, make, settings in (
            ("rare", RareTemplateDetector, config.rare_template),
            ("frequency", TemplateFrequencyDetector, config.template_frequency),
            ("errors", ErrorBurstDetector, config.error_burst),
            ("burst", TemplateBurstDetector, config.template_burst),
            ("parameter", ParameterDetector, config.parameter),
            ("sequence", SequenceDetector, config.sequence),
            ("novelty", NoveltyJudge, config.novelty),
        ):
            if not settings.enabled:
                setattr(self, attr, None)
            elif getattr(self, attr) is None:
                setattr(self, attr, make(settings))
        for detector, settings in (
            (self.rare, config.rare_template),
            (self.frequency, config.template_frequency),
            (self.errors, config.error_burst),
            (self.burst, config.template_burst),
            (self.parameter, config.parameter),
            (self.sequence, config.sequence),
            (self.novelty, config.novelty),
        ):
            if detector is not None:
                detector.config = settings
        if self.errors is not None:
            self.errors.levels = frozenset(config.error_burst.levels)
        self.profile.config = config.stream
        if self.sequence is not None and not hasattr(self.sequence, "totals"):  # snapshots from before totals
            self.sequence.totals = {c: sum(counts.values()) for c, counts in self.sequence.successors.items()}
        if self.novelty is not None and not hasattr(self.novelty, "accepted"):  # snapshots from before acceptance
            self.novelty.accepted = set()
        judge = config.novelty
        for book in self.books.values():
            book.quiet_lines, book.quiet_s = judge.quiet_lines, judge.quiet_s
            book.accept_lines, book.accept_s = judge.accept_lines, judge.accept_s
            if not hasattr(book, "accepted"):  # snapshots taken before episodes could be accepted
                book.accepted = []
                for episode in book.open.values():
                    episode.reason = ""
        fresh = SecurityBank(config.security)
        learned = {type(d): d for d in self.security.detectors}
        for i, detector in enumerate(fresh.detectors):
            old = learned.get(type(detector))
            if old is not None:
                old.config = detector.config
                fresh.detectors[i] = old
        self.security = fresh
        plugins = plugin_detectors(config)  # plugin log detectors: the learned ones keep their state
        for name, detector in plugins.items():
            old = self.plugins.get(name)
            if old is not None:
                old.config = detector.config
                plugins[name] = old
        self.plugins = plugins


def plugin_detectors(config: LogsConfig) -> dict[str, Any]:
    """One fresh instance of each log detector of ``logs.detectors`` (plugins), built with its settings."""
    built = {}
    for name, settings in config.detectors.items():
        detector = LOG_DETECTORS.load(name)
        model = detector.Config.model_validate(settings)
        if getattr(model, "enabled", True):
            built[name] = detector(model)
    return built
