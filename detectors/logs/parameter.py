"""Numeric parameters of a template far outside their own history.

For each (template, numeric parameter position) the recent values are kept;
a value whose robust z-score (median and MAD) exceeds the threshold is a
``parameter`` finding. Scored first, then learned, and a flagged value is
learned too: the median and MAD barely move for a few outliers, and a new
normal level is accepted once it is the majority.

>>> from aiops.detectors.logs.config import ParameterConfig
>>> d = ParameterDetector(ParameterConfig(min_history=5))
>>> for i in range(20): _ = d.observe("t1", ["GET", str(100 + i % 5)], float(i))
>>> f = d.observe("t1", ["GET", "9000"], 21.0)
>>> f.kind, f.values["value"], f.values["position"]
('parameter', 9000.0, 1.0)
>>> d.observe("t1", ["GET", "103"], 22.0) is None
True
"""

from __future__ import annotations

import re
from typing import Sequence

from aiops.detectors.logs.config import ParameterConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import RobustWindow, exceedance_score

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:ms|s|us|ns|sec|secs|min|h|%|KB|MB|GB|B)?")
_LEADING = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


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
    """Robust z-score of each numeric parameter against its (template, position) history."""

    name = "parameter"

    def __init__(self, config: ParameterConfig) -> None:
        self.config = config
        self.history: dict[str, dict[int, RobustWindow]] = {}

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
        worst: Finding | None = None
        chosen = range(len(params)) if positions is None else positions
        for position in list(chosen)[: cfg.max_positions * 4]:
            if position >= len(params):
                continue
            param = params[position]
            value = numeric_value(param)
            if value is None:
                continue
            window = windows.get(position)
            if window is None:
                if len(windows) >= cfg.max_positions:
                    continue
                window = windows[position] = RobustWindow(cfg.history)
            z = window.robust_z(value) if len(window) >= cfg.min_history else 0.0
            if z >= cfg.z_threshold:
                if worst is None or z > worst.values["z"]:
                    worst = Finding(
                        kind="parameter",
                        detector=self.name,
                        score=exceedance_score(z, cfg.z_threshold),
                        threshold=0.9,
                        reason=(
                            f"parameter {position + 1} of '{template}' is {value:g}, "
                            f"usually about {window.median():g} (robust z {z:.1f})"
                        ),
                        time=time,
                        values={"value": value, "median": window.median(), "z": z, "position": float(position)},
                        key=str(position),
                    )
            window.add(value)
        return worst
