"""Annotation templates: ``str.format`` with plain names only, missing names empty.

URL templates quote every value, so a label cannot break out of its query
parameter; attribute and index lookups (``{x.y}``, ``{x[0]}``) are refused.

>>> render("{host} is {state}", {"host": "web-1"})
'web-1 is '
>>> render_url("https://grafana/d/x?var-host={host}", {"host": "a b&c"})
'https://grafana/d/x?var-host=a%20b%26c'
>>> from structlog.testing import capture_logs
>>> with capture_logs() as logs:
...     render("{host.__class__}", {"host": "x"})
'{host.__class__}'
>>> logs[0]["event"]
'template.invalid'
"""

from __future__ import annotations

import string
from typing import Any, Mapping
from urllib.parse import quote

import structlog

log = structlog.get_logger(__name__)


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return ""


class _PlainFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"only plain names are allowed in templates, got {field_name!r}")
        return self.get_value(field_name, args, kwargs), field_name

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return kwargs[key]


_FORMATTER = _PlainFormatter()


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``template``; a broken template is returned as written (and logged)."""
    try:
        return _FORMATTER.vformat(template, (), _Values(values))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        log.warning("template.invalid", template=template, error=str(exc))
        return template


def render_url(template: str, values: Mapping[str, Any]) -> str:
    """Like ``render`` with every value percent-quoted."""
    return render(template, {k: quote(str(v), safe="") for k, v in values.items()})
