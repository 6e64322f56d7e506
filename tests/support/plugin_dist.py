"""A plugin package laid out as pip installs one: its modules and a dist-info with entry points.

Putting the returned folder on ``sys.path`` (or a worker's ``PYTHONPATH``)
is what ``pip install`` of a plugin does for ``importlib.metadata``: its
entry points join the registries' groups (``aiops.detector``,
``aiops.log_detector``, ``aiops.input_format``, ``aiops.sink``,
``aiops.action``, ...).

>>> import tempfile, pathlib
>>> site = install_plugin(pathlib.Path(tempfile.mkdtemp()), "demo-plugin",
...                       {"demo_plugin.py": "VALUE = 1\\n"}, {"aiops.detector": {"demo": "demo_plugin:VALUE"}})
>>> sorted(p.name for p in site.iterdir())
['demo_plugin-0.1.dist-info', 'demo_plugin.py']
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from importlib import invalidate_caches
from pathlib import Path
from typing import Iterator


def install_plugin(root: Path, name: str, modules: dict[str, str], entry_points: dict[str, dict[str, str]]) -> Path:
    """Write ``modules`` (file name -> source) and a dist-info naming ``entry_points`` under ``root/site``."""
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    for filename, source in modules.items():
        target = site / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    dist = site / f"{name.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {target}" for key, target in entries.items())
        lines.append("")
    (dist / "entry_points.txt").write_text("\n".join(lines))
    return site


@contextmanager
def plugin_on_path(site: Path) -> Iterator[None]:
    """``site`` on ``sys.path`` for the block (in this process), as if the plugin were installed."""
    sys.path.insert(0, str(site))
    invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(site))
        invalidate_caches()
