"""What may fill a remediation argument: trusted labels only, each value checked against its allow-list.

Placeholders (``{host}``, or inside an argument: ``--host={host}``) are
filled only from labels the pipeline sets itself (``TRUSTED_LABELS``: the
source, the series id, the normalised host and service, the alert's kind and
name) plus the alert's severity and fingerprint, never from free-form payload
labels. Each value must be plain (printable ASCII, no spaces, not starting
with ``-``, at most 253 characters) and then pass the placeholder's allow-list:
an explicit set of values, an inventory file (one value per line) or an
anchored pattern. Anything else refuses the action; nothing goes through a
shell.

>>> allow = {"host": AllowList(values=frozenset({"web-1"}))}
>>> fill("--host={host}", {"host": "web-1"}, allow, AllowList(pattern=DEFAULT_VALUE_PATTERN))
'--host=web-1'
>>> fill("--host={host}", {"host": "web-2"}, allow, AllowList(pattern=DEFAULT_VALUE_PATTERN))
Traceback (most recent call last):
...
aiops.alerting.remediation.action.ActionRefused: host 'web-2' is not in its allow-list
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from aiops.alerting.alert import Alert
from aiops.alerting.remediation.action import ActionRefused

#: Labels the pipeline sets itself; only these (and severity, fingerprint) fill action placeholders.
TRUSTED_LABELS = ("source", "series_id", "host", "service", "kind", "alertname")
#: Free text a webhook body may carry as JSON strings (never a target, an argument or a URL).
FREE_TEXT = ("summary", "description")
DEFAULT_VALUE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:@=+-]{0,127}$"
MAX_VALUE_CHARS = 253
_FORMATTER = string.Formatter()


def trusted_values(alert: Alert, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The values placeholders may use: trusted labels (host and service normalised), severity, fingerprint.

    ``extra`` names labels an action opted in to (each must then have its own allow-list).

    >>> a = Alert.firing(labels={"host": "Web-1.", "team": "x; rm -rf /", "source": "metric"},
    ...                  annotations={}, starts_at=0, severity="error", score=1.0)
    >>> sorted(trusted_values(a)), trusted_values(a)["host"]
    (['fingerprint', 'host', 'severity', 'source'], 'web-1')
    """
    values = {k: str(alert.labels[k]) for k in (*TRUSTED_LABELS, *extra) if k in alert.labels}
    for name in ("host", "service"):
        if name in values:
            values[name] = values[name].lower().removesuffix(".")  # spaces and controls stay: checks refuse them
    values["severity"] = alert.severity
    values["fingerprint"] = alert.fingerprint
    return values


@dataclass(frozen=True)
class AllowList:
    """Exactly one of: a set of values, an inventory file (read on each use), a pattern the value matches whole."""

    values: frozenset[str] | None = None
    inventory: str | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.values, self.inventory, self.pattern)) != 1:
            raise ValueError("an allow-list is exactly one of values, inventory or pattern")

    def admits(self, value: str) -> bool:
        if self.values is not None:
            return value in self.values
        if self.pattern is not None:
            return re.fullmatch(self.pattern, value) is not None
        try:
            lines = Path(self.inventory).read_text().splitlines()  # type: ignore[arg-type]
        except OSError:
            return False  # no inventory, no target
        return value in {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def default_allow_list(pattern: str) -> AllowList:
    """An action's default allow-list: its pattern, matched against the whole value.

    >>> default_allow_list("[a-z]+").admits("web"), default_allow_list("[a-z]+").admits("web-1")
    (True, False)
    """
    return AllowList(pattern=pattern)  # admits() matches the whole value


def action_allow_lists(config) -> dict[str, AllowList]:  # noqa: ANN001 - any action config
    """The per-placeholder allow-lists an action's settings declare."""
    return {name: spec.build() for name, spec in config.allowed_values.items()}


def check_value(name: str, value: str, allow: AllowList) -> str:
    """``value`` if it is plain and on ``allow``; ``ActionRefused`` naming why otherwise."""
    if not value or len(value) > MAX_VALUE_CHARS:
        raise ActionRefused(f"{name} is empty or longer than {MAX_VALUE_CHARS} characters")
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise ActionRefused(f"{name} {value!r} holds spaces, control or non-ASCII characters")
    if value.startswith("-"):
        raise ActionRefused(f"{name} {value!r} would read as an option")
    if not allow.admits(value):
        raise ActionRefused(f"{name} {value!r} is not in its allow-list")
    return value


def placeholders(template: str) -> list[str]:
    """The placeholder names of a template; ``ValueError`` for formats, conversions, attributes or indexes.

    >>> placeholders("--host={host}:{service}")
    ['host', 'service']
    """
    names = []
    for _, field, spec, conversion in _FORMATTER.parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{field}}} in {template!r} must be a plain name")
        names.append(field)
    return names


def fill(template: str, values: Mapping[str, str], allow: Mapping[str, AllowList], default: AllowList, *,
         free: Mapping[str, str] | None = None, encode: Callable[[str], str] | None = None) -> str:
    """``template`` with each placeholder replaced by its checked value (``ActionRefused`` if any fails).

    ``free`` values (a webhook body's free text) go in unchecked; ``encode`` transforms each checked
    value (percent-quoting in a URL).
    """
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ActionRefused(f"template {template!r} is malformed: {exc}") from None
    out = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ActionRefused(f"placeholder {{{field}}} must be a plain name")
        if free is not None and field in free:
            out.append(free[field])
            continue
        if field not in values:
            raise ActionRefused(f"placeholder {{{field}}} is not a trusted label of this alert")
        value = check_value(field, values[field], allow.get(field, default))
        out.append(encode(value) if encode else value)
    return "".join(out)
