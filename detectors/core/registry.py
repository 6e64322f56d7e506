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

Entry points of the group ``aiops.<kind>`` join at the first look-up;
``refresh()`` reads them again (a plugin installed since). A group in
``deprecated_groups`` is still read, after the main one, with a
``DeprecationWarning`` for each entry found there.
"""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import entry_points
from typing import Any

from aiops.detectors.core.errors import ConfigError


class Registry:
    """Maps names to lazily imported objects (``"module.path:attribute"``)."""

    def __init__(self, kind: str, builtins: dict[str, str], *, deprecated_groups: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._paths = dict(builtins)
        self._loaded: dict[str, Any] = {}
        self._group = f"aiops.{kind}"
        self._deprecated_groups = deprecated_groups
        self._scanned = False
        self._from_entry_points: set[str] = set()

    def register(self, name: str, target: str | Any) -> None:
        """Add an entry: a dotted path, or the object itself."""
        self._from_entry_points.discard(name)
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

    def refresh(self) -> None:
        """Forget what entry points gave and read them again at the next look-up."""
        for name in self._from_entry_points:
            self._paths.pop(name, None)
            self._loaded.pop(name, None)
        self._from_entry_points.clear()
        self._scanned = False

    def _scan_entry_points(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for group in (self._group, *self._deprecated_groups):
            for ep in entry_points(group=group):
                if ep.name in self._paths:
                    continue
                if group != self._group:
                    warnings.warn(f"entry point group {group!r} is deprecated; use {self._group!r} "
                                  f"({ep.name} = {ep.value})", DeprecationWarning, stacklevel=3)
                self._paths[ep.name] = ep.value
                self._from_entry_points.add(ep.name)
