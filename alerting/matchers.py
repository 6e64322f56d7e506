"""Label matchers as in Prometheus Alertmanager: ``=``, ``!=``, ``=~``, ``!~``.

A regex matcher is anchored (it must match the whole value); a missing label
matches as the empty string, so ``team!=ops`` matches an alert without a team.

>>> m = Matcher.parse('host=~"web-.*"')
>>> m.matches({"host": "web-1"}), m.matches({"host": "db-1"})
(True, False)
>>> str(m)
'host=~"web-.*"'
>>> matches_all(parse_matchers(["severity=critical", "team!=ops"]), {"severity": "critical"})
True
>>> Matcher.parse("no operator")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
...
MatcherError: matcher 'no operator' has no operator (=, !=, =~, !~)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from aiops.detectors.core.errors import InputError

_PARSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
OPERATORS = ("=", "!=", "=~", "!~")


class MatcherError(InputError):
    """A matcher string cannot be parsed or its regex does not compile."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label."""

    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: str, value: str) -> Matcher:
        if op not in OPERATORS:
            raise MatcherError(f"unknown matcher operator {op!r}; use one of {', '.join(OPERATORS)}")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value)
            except re.error as exc:
                raise MatcherError(f"matcher {name}{op}{value!r}: bad regex: {exc}") from None
        return cls(name, op, value, regex)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        if not isinstance(text, str):
            raise MatcherError(f"matcher must be a string, got {type(text).__name__}")
        found = _PARSE.match(text)
        if not found:
            raise MatcherError(f"matcher {text!r} has no operator (=, !=, =~, !~)")
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return cls.create(name, op, value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(value) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matchers(texts: Iterable[str]) -> list[Matcher]:
    """Parse each matcher string; raises ``MatcherError`` naming the bad one."""
    return [Matcher.parse(t) for t in texts]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def check_matchers(value: list[str]) -> list[str]:
    """A pydantic validator: the matcher strings parse, or a ``ValueError`` saying why.

    >>> check_matchers(["host=~web-.*"])
    ['host=~web-.*']
    """
    try:
        parse_matchers(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None
    return value
