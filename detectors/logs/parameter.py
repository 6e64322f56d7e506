"""Numeric parameters of a template far outside their own history.

For each (template, numeric parameter position) the recent values are kept.
A value beyond their range by ``decades`` orders of magnitude, and far from
them in log space (robust z-score of the logarithms), is a ``parameter``
finding: sizes and durations are heavy-tailed, so a value twice the median is
news only on a linear scale. Positions whose integer values are nearly all
rising (counters, sequential ids) are not judged. Scored first, then learned, and a
flagged value is learned too: a new level becomes the range's own.

>>> from aiops.detectors.logs.config import ParameterConfig
>>> d = ParameterDetector(ParameterConfig(min_history=5))
>>> for i in range(20): _ = d.observe("t1", ["GET", str(100 + i % 3)], float(i))
>>> d.observe("t1", ["GET", "300"], 20.5) is None  # three times the usual: not a decade beyond
True
>>> f = d.observe("t1", ["GET", "9000"], 21.0)
>>> f.kind, f.values["value"], f.values["position"]
('parameter', 9000.0, 1.0)
>>> d.observe("t1", ["GET", "103"], 22.0) is None
True
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Sequence

from aiops.detectors.logs.config import ParameterConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import RobustWindow, exceedance_score

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:ms|s|us|ns|sec|secs|min|h|%|KB|MB|GB|B)?")
_LEADING = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@lru_cache(maxsize=65536)
def numeric_value(param: str) -> float | None:
    """The number in a parameter like ``42``, ``-3.5``, ``120ms``; None for anything else.

    >>> numeric_value("120ms"), numeric_value("10.0.0.1"), numeric_value("0x1f"), numeric_value("00106534")
    (120.0, None, None, None)
    """
    if not _NUMBER.fullmatch(param) or (len(param) > 1 and param[0] == "0" and param[1].isdigit()):
        return None
    found = _LEADING.match(param)
    return float(found.group(0)) if found else None


class ParameterDetector:
    """Each numeric parameter against the range of its (template, position) history, on a log scale."""

    name = "parameter"
    Config = ParameterConfig  # its settings, under logs.parameter

    def __init__(self, config: ParameterConfig) -> None:
        self.config = config
        self.history: dict[str, dict[int, RobustWindow]] = {}
        self.identifiers: dict[str, set[int]] = {}
        self.bounds: dict[tuple[str, int], tuple[float, float, int]] = {}

    def _outside(self, template_id: str, position: int, window: RobustWindow, value: float) -> bool:
        """Cheap first look: beyond the range last computed (refreshed every 16 values), worth judging."""
        key = (template_id, position)
        known = self.bounds.get(key)
        if known is None or known[2] >= 16:
            known = (min(window.values), max(window.values), 0)
        low, high, age = known
        self.bounds[key] = (min(low, value), max(high, value), age + 1)
        return value > high or value < low

    def observe(
        self,
        template_id: str,
        params: list[str],
        time: float,
        *,
        template: str = "",
        positions: Sequence[int] | None = None,
    ) -> Finding | None:
        """Score (then learn) the numeric parameters at ``positions`` (default: all)."""
        cfg = self.config
        windows = self.history.get(template_id)
        if windows is None:
            if len(self.history) >= cfg.max_templates:
                return None
            windows = self.history[template_id] = {}
        skip = self.identifiers.get(template_id, ())
        worst: Finding | None = None
        chosen = range(len(params)) if positions is None else positions
        for position in list(chosen)[: cfg.max_positions * 4]:
            if position >= len(params) or position in skip:
                continue
            value = numeric_value(params[position])
            if value is None:
                continue
            window = windows.get(position)
            if window is None:
                if len(windows) >= cfg.max_positions:
                    continue
                window = windows[position] = RobustWindow(cfg.history)
            if len(window) >= cfg.min_history and self._outside(template_id, position, window, value):
                finding = self._judge(window, value, position, time, template)
                if finding is not None and (worst is None or finding.values["z"] > worst.values["z"]):
                    worst = finding
            window.add(value)
            if len(window) == cfg.min_history and self._is_identifier(window):
                self.identifiers.setdefault(template_id, set()).add(position)
        return worst

    def _judge(self, window: RobustWindow, value: float, position: int, time: float, template: str) -> Finding | None:
        """Beyond the kept range by ``decades`` orders of magnitude, and far in log space."""
        cfg = self.config
        values = window.values
        high, low = max(values), min(values)
        beyond = 0.0
        if value > high > 0:
            beyond = math.log10(value / high)
        elif 0 <= value < low:
            beyond = math.log10(low / value) if value > 0 else math.inf
        if beyond < cfg.decades or beyond <= 0:
            return None
        logs = RobustWindow(len(values))
        for v in values:
            logs.add(math.log10(v) if v > 0 else -3.0)
        z = logs.robust_z(math.log10(value) if value > 0 else -3.0)
        if z < cfg.z_threshold:
            return None
        usual = window.median()
        return Finding(
            kind="parameter",
            detector=self.name,
            score=exceedance_score(z, cfg.z_threshold),
            threshold=0.9,
            reason=(
                f"parameter {position + 1} of '{template}' is {value:g}, outside {low:g}..{high:g} of its last "
                f"{len(values)} values (usually about {usual:g})"
            ),
            time=time,
            values={"value": value, "median": usual, "low": low, "high": high, "z": z, "position": float(position)},
            key=str(position),
        )

    def _is_identifier(self, window: RobustWindow) -> bool:
        """Integers that nearly always go up: counters and sequential ids, not quantities."""
        values = list(window.values)
        if not all(v == int(v) for v in values):
            return False
        rising = sum(1 for a, b in zip(values, values[1:]) if b > a)
        return rising > self.config.max_distinct_share * (len(values) - 1)
