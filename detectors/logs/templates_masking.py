"""Masking: replace variable parts of a log message by named placeholders.

All rules are joined into one alternation and applied in one pass; at each
position the first rule (in order) that matches wins. The masked values are
kept, in order, so the parameters of a message can be read back.

>>> m = Masker(DEFAULT_RULES)
>>> m.mask("Accepted password for root from 10.0.0.7 port 52311 ssh2")
('Accepted password for <USER> from <IP> port <NUM> ssh2', ['root', '10.0.0.7', '52311'])
>>> m.mask("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106")[0]
'Receiving block <BLK> src: /<IP>'
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from aiops.detectors.logs.templates_config import MaskingRule

_B = r"(?<![\w.\-/])"  # token boundary on the left
_E = r"(?![\w\-])"  # token boundary on the right

DEFAULT_RULES: tuple[MaskingRule, ...] = tuple(
    MaskingRule(name=n, pattern=p)
    for n, p in (
        ("URL", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>]+"),
        ("EMAIL", r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b"),
        (
            "TIMESTAMP",
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?!\d)",
        ),
        (
            "DATE",
            r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? )?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2},?"
            r" \d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?: \d{4})?(?!\d)",
        ),
        ("UUID", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        ("MAC", r"\b(?:[0-9A-Fa-f]{2}[:\-]){5}[0-9A-Fa-f]{2}\b"),
        ("TIME", r"(?<![\w:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])"),
        (
            "IPV6",
            r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"
            r"|(?<![\w:])(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:){0,5}[0-9a-fA-F]{1,4}(?![\w:])"
            r"|(?<![\w:])::(?:ffff:)?\d{1,3}(?:\.\d{1,3}){3}(?![\w.])",
        ),
        (
            "USER",
            r"(?<=[Ii]nvalid user )\S+|(?<=password for )\S+(?= from)|(?<=failures for )\S+"
            r"|(?<=\buser[= ])[\w.\-@$]+|(?<=\bfor user )[\w.\-@$]+",
        ),
        ("IP", r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])"),
        ("HOSTPORT", r"(?<![\w.\-])(?:[A-Za-z0-9\-]+\.)+[a-z]{2,6}:\d{1,5}(?![\w.])"),
        ("QUOTED", r'(?<==)"[^"\n]*"'),
        ("BOOL", r"(?<=[=:])(?:true|false|null|TRUE|FALSE|NULL|True|False|None)(?![\w])"),
        ("BLK", r"\bblk_-?\d+\b"),
        ("HEX", r"\b0[xX][0-9a-fA-F]+\b|(?<![\w\-])(?=[a-f]*\d)(?=\d*[a-f])[0-9a-f]{8,}(?![\w\-])"),
        ("PATH", r"(?<![\w.:/~])(?:~|\.{1,2})?(?:/[\w.\-@+~%]+){2,}/?(?![\w/])"),
        (
            "DURATION",
            r"(?<![\w.])\d+(?:\.\d+)?(?:ms|us|µs|ns|s|sec|secs|min|mins|h)(?![\w])",
        ),
        ("NUM", _B + r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?" + _E + r"(?!\.\d)"),
    )
)


_DIGITS = tuple("0123456789")

#: Compiled alternations per rule list and set of active rules, shared by all maskers (compiling one
#: costs milliseconds, and every source of a service has the same rules).
_COMPILED: dict[tuple[tuple[str, str], ...], dict[int, "re.Pattern[str] | None"]] = {}

#: Substrings without which a built-in rule cannot match: a line is only scanned with the
#: rules whose hint it contains (one alternation per combination, compiled once).
RULE_HINTS: dict[str, tuple[str, ...]] = {
    "URL": ("://",),
    "EMAIL": ("@",),
    "TIMESTAMP": ("-",),
    "DATE": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "UUID": ("-",),
    "MAC": (":", "-"),
    "TIME": (":",),
    "IPV6": (":",),
    "USER": ("user", "for "),
    "IP": (".",),
    "HOSTPORT": (":",),
    "BLK": ("blk_",),
    "QUOTED": ('="',),
    "BOOL": ("true", "false", "null", "TRUE", "FALSE", "NULL", "True", "False", "None"),
    "HEX": _DIGITS,
    "PATH": ("/",),
    "DURATION": _DIGITS,
    "NUM": _DIGITS,
}

#: Built-in rules that can only match where the character before is not a word character (each
#: starts with ``\b`` before a word character or a look-behind excluding ``\w``).
STARTS_AFTER_NON_WORD = frozenset(
    ("URL", "TIMESTAMP", "DATE", "UUID", "MAC", "TIME", "IPV6", "IP", "HOSTPORT", "BLK", "HEX", "PATH",
     "DURATION", "NUM")
)

class Masker:
    """Compiled masking rules (one alternation, first rule wins at each position).

    >>> rule = MaskingRule(name="USER", pattern=r"(?<=user )\\S+")
    >>> Masker([rule, *DEFAULT_RULES]).mask("Invalid user admin from 1.2.3.4")[0]
    'Invalid user <USER> from <IP>'
    >>> Masker([]).mask("x=1")
    ('x=1', [])
    """

    def __init__(self, rules: Sequence[MaskingRule], *, max_chars: int = 4096) -> None:
        self.rules = list(rules)
        self.max_chars = max_chars
        self._names = [r.name for r in self.rules]
        default_patterns = {r.name: r.pattern for r in DEFAULT_RULES}
        self._hints = [
            RULE_HINTS.get(r.name) if default_patterns.get(r.name) == r.pattern else None for r in self.rules
        ]
        # each distinct hint once, with the rules it switches on; rules without hints are always on
        self._always = 0
        by_hint: dict[str, int] = {}
        for i, hints in enumerate(self._hints):
            if hints is None:
                self._always |= 1 << i
            else:
                for h in hints:
                    by_hint[h] = by_hint.get(h, 0) | 1 << i
        self._by_hint = tuple(by_hint.items())
        self._after_word = frozenset(
            i for i, r in enumerate(self.rules) if r.name in STARTS_AFTER_NON_WORD and self._hints[i] is not None
        )
        rules_key = tuple((r.name, r.pattern) for r in self.rules)
        self._placeholder_of = {f"g{i}": f"<{name}>" for i, name in enumerate(self._names)}
        self._compiled = _COMPILED.setdefault(rules_key, {})  # shared by every masker with these rules
        self._recent: dict[str, tuple[str, list[str]]] = {}

    def _regex_for(self, message: str) -> re.Pattern[str] | None:
        active = self._always
        for hint, bits in self._by_hint:
            if hint in message:
                active |= bits
        regex = self._compiled.get(active, False)
        if regex is False:
            chosen = [(i, r) for i, r in enumerate(self.rules) if active >> i & 1]
            joined = _alternation(chosen, self._after_word)
            regex = re.compile(joined) if joined else None
            if len(self._compiled) < 4096:
                self._compiled[active] = regex
        return regex

    def mask(self, message: str) -> tuple[str, list[str]]:
        """The masked message and the masked values in order of appearance."""
        message = message[: self.max_chars]
        known = self._recent.get(message)
        if known is not None:  # logs repeat lines word for word: mask each once
            return known[0], list(known[1])
        regex = self._regex_for(message)
        if regex is None:
            return message, []
        values: list[str] = []

        placeholder = self._placeholder_of

        def replace(match: re.Match[str]) -> str:
            values.append(match.group(0))
            return placeholder[match.lastgroup]

        masked = regex.sub(replace, message)
        if len(self._recent) >= 4096:
            self._recent.clear()
        self._recent[message] = (masked, list(values))
        return masked, values

    def __getstate__(self) -> dict[str, object]:
        return {"rules": self.rules, "max_chars": self.max_chars}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["rules"], max_chars=state["max_chars"])  # type: ignore[misc, arg-type]

    def placeholders(self) -> set[str]:
        return {f"<{n}>" for n in self._names}


def _alternation(chosen: list[tuple[int, MaskingRule]], after_non_word: frozenset[int]) -> str:
    """One alternation of the chosen rules, in order, each a named group ``g<index>``; each run of
    consecutive rules that only match after a non-word character shares one look-behind, so that
    inside a word the regex tries one assertion instead of every rule.

    >>> rules = [MaskingRule(name=n, pattern=p) for n, p in (("IP", "a"), ("NUM", "b"), ("X", "c"))]
    >>> print(_alternation(list(enumerate(rules)), frozenset({0, 1})))
    (?<!\\w)(?:(?P<g0>a)|(?P<g1>b))|(?P<g2>c)
    """
    parts: list[str] = []
    run: list[str] = []
    for i, rule in chosen:
        group = f"(?P<g{i}>{_anonymise_groups(rule.pattern)})"
        if i in after_non_word:
            run.append(group)
            continue
        if run:
            parts.append(f"(?<!\\w)(?:{'|'.join(run)})")
            run = []
        parts.append(group)
    if run:
        parts.append(f"(?<!\\w)(?:{'|'.join(run)})")
    return "|".join(parts)


def _anonymise_groups(pattern: str) -> str:
    """Turn user named groups into plain groups so several rules can be joined."""
    return re.sub(r"\(\?P<[A-Za-z_]\w*>", "(?:", pattern)


def rules_for(extra: Iterable[MaskingRule], *, with_defaults: bool = True) -> list[MaskingRule]:
    """Per-source rules first, then the built-in ones."""
    return [*extra, *(DEFAULT_RULES if with_defaults else ())]
