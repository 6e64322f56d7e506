"""Log template mining: Drain over masked messages, one miner per source.

Messages of one source (by default the ``service`` label) share a Drain
prefix tree, so templates of unrelated systems never mix. Each miner's state
exports to bytes and imports back, so it can be snapshotted to a compacted
topic keyed like the events and move with the partition.

>>> miners = TemplateMiners(MiningConfig())
>>> a = miners.add("sshd", "Failed password for root from 10.0.0.1 port 22 ssh2")
>>> b = miners.add("sshd", "Failed password for admin from 10.0.0.2 port 2222 ssh2")
>>> a.template_id == b.template_id, b.template, b.params
(True, 'Failed password for <USER> from <IP> port <NUM> ssh2', ['admin', '10.0.0.2', '2222'])
>>> a.is_new, b.is_new
(True, False)
>>> restored = TemplateMiners(MiningConfig())
>>> restored.import_state(miners.export_state(["sshd"]))
>>> restored.add("sshd", "Failed password for bob from 10.0.0.3 port 1 ssh2").template_id == a.template_id
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import structlog
from drain3.drain import Drain

from aiops.detectors.core import state_codec
from aiops.detectors.core.errors import InputError
from aiops.detectors.logs.templates_config import DrainSettings, MiningConfig, SourceMining
from aiops.detectors.logs.templates_drain import MaskedDrain
from aiops.detectors.logs.templates_masking import Masker, rules_for

log = structlog.get_logger(__name__)

WILDCARD = "<*>"
_STATE_VERSION = 1


class TemplateStateError(InputError):
    """A snapshot of a miner cannot be read back."""


def pack_state(payload: dict) -> bytes:
    """A state snapshot: the payload (a dict carrying its ``version``) in the state codec (no pickle)."""
    return state_codec.dumps(payload)


def unpack_state(data: bytes, version: int, what: str) -> dict:
    """The payload of a ``pack_state`` snapshot of this ``version``; ``TemplateStateError`` naming ``what`` if not.

    >>> unpack_state(pack_state({"version": 1, "drain": None}), 1, "state of 'x'")["drain"] is None
    True
    >>> for data in (b"junk", pack_state({"version": 2})):
    ...     try:
    ...         unpack_state(data, 1, "state of 'x'")
    ...     except TemplateStateError as exc:
    ...         print(str(exc)[:30])
    state of 'x' is unreadable: no
    state of 'x' has an unknown ve
    """
    try:
        payload = state_codec.loads(data)
    except state_codec.StateError as exc:  # corrupt, truncated, forged or a type not allowed
        raise TemplateStateError(f"{what} is unreadable: {exc}") from None
    if not isinstance(payload, dict) or payload.get("version") != version:
        raise TemplateStateError(f"{what} has an unknown version")
    return payload


@dataclass(slots=True, frozen=True)
class TemplateMatch:
    """The template one message belongs to, and the message's parameters.

    ``standalone`` lists the parameters that are whole tokens (``<*>``,
    ``<NUM>``, ``<DURATION>``...): quantities, unlike the digits inside a
    token such as ``core.3401`` that are identifiers.
    """

    template_id: str
    template: str
    params: list[str]
    is_new: bool
    cluster_id: int
    standalone: tuple[int, ...] = ()


class SourceMiner:
    """The Drain miner of one source, with that source's masking rules."""

    def __init__(self, source: str, settings: SourceMining, drain: DrainSettings, *, max_chars: int = 4096):
        self.source = source
        self.masker = Masker(rules_for(settings.masking, with_defaults=settings.default_masking), max_chars=max_chars)
        self.drain = MaskedDrain(
            depth=drain.depth,
            sim_th=drain.sim_th,
            max_children=drain.max_children,
            max_clusters=drain.max_clusters,
            extra_delimiters=tuple(drain.extra_delimiters),
            param_str=WILDCARD,
        )
        self._placeholder = re.compile("|".join(re.escape(p) for p in self.masker.placeholders()) or "(?!)")
        self._repeats: dict[str, tuple[Any, tuple[str, ...], TemplateMatch]] = {}  # recent lines, word for word
        self._masked: dict[str, tuple[Any, tuple[str, ...], list[str]]] = {}  # recent masked lines
        self._placeholders = frozenset(self.masker.placeholders())

    def add(self, message: str) -> TemplateMatch:
        """Mine one message: learn it into the tree and say which template it joined."""
        if not isinstance(message, str):
            raise InputError(f"log message must be a string, got {type(message).__name__}")
        repeat = self._repeats.get(message) if self.drain.max_clusters is None else None
        if repeat is not None:
            cluster, shape, known = repeat
            if cluster.log_template_tokens is shape and self.drain.id_to_cluster.get(cluster.cluster_id) is cluster:
                # the same line again, its template unchanged: Drain would only count it
                cluster.size += 1
                return TemplateMatch(known.template_id, known.template, list(known.params), False,
                                     known.cluster_id, known.standalone)
        masked, values = self.masker.mask(message)
        cluster, change, tokens, variable = self._mine(masked)
        params, standalone = self._params(cluster.log_template_tokens, tokens, values, variable)
        match = TemplateMatch(
            template_id=f"{self.source}:{cluster.cluster_id}",
            template=" ".join(cluster.log_template_tokens),
            params=params,
            is_new=change == "cluster_created",
            cluster_id=cluster.cluster_id,
            standalone=tuple(standalone),
        )
        if len(self._repeats) >= 4096:
            self._repeats.clear()
        self._repeats[message] = (cluster, cluster.log_template_tokens, match)
        return match

    def _mine(self, masked: str) -> tuple[Any, str, list[str], list[int]]:
        """Drain's cluster for a masked message, its change, the message's tokens and the indices of
        those that can hold a parameter. Messages that differ only in masked values are one masked
        string: while its cluster's template is unchanged, Drain would only count it again, so it is
        not searched again."""
        known = self._masked.get(masked) if self.drain.max_clusters is None else None
        if known is not None:
            cluster, shape, tokens, variable = known
            if cluster.log_template_tokens is shape and self.drain.id_to_cluster.get(cluster.cluster_id) is cluster:
                cluster.size += 1
                return cluster, "none", tokens, variable
        cluster, change = self.drain.add_log_message(masked)
        tokens = self.drain.get_content_as_tokens(masked)
        template = cluster.log_template_tokens
        variable = [
            i for i, token in enumerate(tokens)
            if "<" in token or i >= len(template) or WILDCARD in template[i]
        ]
        if len(self._masked) >= 4096:
            self._masked.clear()
        self._masked[masked] = (cluster, template, tokens, variable)
        return cluster, change, tokens, variable

    def _params(
        self, template: Sequence[str], tokens: list[str], values: list[str], variable: list[int]
    ) -> tuple[list[str], list[int]]:
        """The variable parts in order (wildcard tokens whole, masked values and digit runs alone),
        and the indices of those that are whole tokens; ``variable`` lists the tokens that can hold one
        (a masked value, or a wildcard in the template), in order."""
        params: list[str] = []
        standalone: list[int] = []
        pending = iter(values)
        for i in variable:
            token = tokens[i]
            if "<" not in token:
                restored = token
            elif token in self._placeholders:  # a whole masked token: its value, without a regex
                restored = next(pending, token)
            else:
                restored = self._placeholder.sub(lambda _m: next(pending, _m.group(0)), token)
            shape = template[i] if i < len(template) else WILDCARD
            if shape == WILDCARD or (restored != token and self._placeholder.fullmatch(token)):
                standalone.append(len(params))
                params.append(restored)
            elif WILDCARD in shape or restored != token:
                params.extend(_variable_parts(self._placeholder, shape, restored))
        return params, standalone

    def templates(self) -> dict[int, str]:
        return {c.cluster_id: " ".join(c.log_template_tokens) for c in self.drain.clusters}

    def to_bytes(self) -> bytes:
        return pack_state({"version": _STATE_VERSION, "source": self.source, "drain": self.drain})

    def load_bytes(self, data: bytes) -> None:
        """Replace the tree by a snapshot (masking rules stay those of the current settings)."""
        payload = unpack_state(data, _STATE_VERSION, f"template state of {self.source!r}")
        drain = payload["drain"]
        if not isinstance(drain, Drain):
            raise TemplateStateError(f"template state of {self.source!r} holds no Drain tree")
        self.drain = drain
        self._repeats.clear()
        self._masked.clear()


def _variable_parts(placeholder: re.Pattern[str], shape: str, restored: str) -> list[str]:
    """The values behind the wildcards and placeholders of one template token.

    >>> _variable_parts(re.compile("<NUM>"), "r<*>:<NUM>", "r17:42")
    ['17', '42']
    """
    found = _shape_pattern(placeholder, shape).fullmatch(restored)
    return list(found.groups()) if found else [restored]


_SHAPES: dict[tuple[str, str], re.Pattern[str]] = {}


def _shape_pattern(placeholder: re.Pattern[str], shape: str) -> re.Pattern[str]:
    """The compiled pattern of one template token (compiled once: tokens recur on every line)."""
    key = (placeholder.pattern, shape)
    found = _SHAPES.get(key)
    if found is None:
        pattern = "".join(
            "(.+?)" if part == WILDCARD or placeholder.fullmatch(part) else re.escape(part)
            for part in re.split(f"({re.escape(WILDCARD)}|{placeholder.pattern})", shape)
            if part
        )
        found = re.compile(pattern, re.DOTALL)
        if len(_SHAPES) >= 8192:
            _SHAPES.clear()
        _SHAPES[key] = found
    return found


class TemplateMiners:
    """One ``SourceMiner`` per source key, created on first use."""

    def __init__(self, config: MiningConfig) -> None:
        self.config = config
        self._miners: dict[str, SourceMiner] = {}

    def miner(self, source: str) -> SourceMiner:
        found = self._miners.get(source)
        if found is None:
            found = SourceMiner(
                source,
                self.config.for_source(source),
                self.config.drain_for(source),
                max_chars=self.config.max_message_chars,
            )
            self._miners[source] = found
        return found

    def add(self, source: str, message: str) -> TemplateMatch:
        return self.miner(source).add(message)

    def keys(self) -> list[str]:
        return sorted(self._miners)

    def export_state(self, keys: Iterable[str]) -> dict[str, bytes]:
        return {k: self._miners[k].to_bytes() for k in keys if k in self._miners}

    def import_state(self, states: Mapping[str, bytes]) -> None:
        for key, data in states.items():
            self.miner(key).load_bytes(data)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._miners.pop(key, None)
