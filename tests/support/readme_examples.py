"""The examples of README.md: fenced blocks right after a ``<!-- example: NAME -->`` line.

>>> text = "x\\n<!-- example: one -->\\n```json\\n{}\\n```\\n"
>>> examples(text)["one"]
Example(name='one', language='json', text='{}\\n')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_EXAMPLE = re.compile(r"^<!-- example: ([\w-]+) -->\n```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    name: str
    language: str
    text: str


def examples(text: str | None = None) -> dict[str, Example]:
    """Every marked example of ``text`` (default: README.md) by name; a name used twice is an error."""
    found: dict[str, Example] = {}
    for match in _EXAMPLE.finditer(README.read_text() if text is None else text):
        name, language, body = match.groups()
        if name in found:
            raise ValueError(f"README example {name!r} is marked twice")
        found[name] = Example(name, language, body)
    return found
