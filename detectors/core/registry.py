"""One registry per extension point: built-ins by name, plus entry points.

A built-in is registered as a dotted path so importing the registry imports
nothing heavy (torch loads only when the LSTM detector is asked for).

>>> r = Registry("demo", {"json": "json:JSONDecoder"})
>>> r.load("json").__name__
'JSONDecoder'
>>> r.load("nope")
Traceback (most recent call last):
...
aiops.detectors.core.errors.ConfigError: unknown demo 'nope'; known: json
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from aiops.detectors.core.errors import ConfigError


class Registry:
    """Maps names to lazily imported objects (``"module.path:attribute"``)."""

    def __init__(self, kind: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self._paths = dict(builtins)
        self._loaded: dict[str, Any] = {}
        self._group = f"aiops.{kind}"
        self._scanned = False

    def register(self, name: str, target: str | Any) -> None:
        """Add an entry: a dotted path, or the object itself."""
        if isinstance(target, str):
            self._paths[name] = target
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = target
            self._paths[name] = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', name)}"

    def names(self) -> list[str]:
        self._scan_entry_points()
        return sorted(self._paths)

    def load(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        self._scan_entry_points()
        path = self._paths.get(name)
        if path is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        module_name, _, attr = path.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        self._loaded[name] = obj
        return obj

    def _scan_entry_points(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for ep in entry_points(group=self._group):
            self._paths.setdefault(ep.name, ep.value)
