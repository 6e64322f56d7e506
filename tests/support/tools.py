"""The Debian tools the tests run: `make test` installs them, so a missing one is an error, never a skip."""

from __future__ import annotations

import shutil


def system_tool(name: str, package: str) -> str:
    """The path of ``name``; ``FileNotFoundError`` naming the Debian ``package`` when it is not installed."""
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (Debian package {package}; `make test` installs it)")
    return path
