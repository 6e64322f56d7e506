"""`promtool check metrics` (Debian's `prometheus` package) on a /metrics body."""

from __future__ import annotations

import subprocess

from tests.support.tools import system_tool


def promtool_check(text: bytes) -> subprocess.CompletedProcess:
    """promtool's verdict on ``text`` (``FileNotFoundError`` when promtool is not installed)."""
    tool = system_tool("promtool", "prometheus")
    return subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, timeout=30)


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}
