"""Error lines concentrated on one or two templates: a failure storm rather than scattered noise.

The last ``window_lines`` lines of a source are kept. When an error-level
line arrives, the error lines of that window plus this one are counted per
template. The line is flagged when its own template dominates them
(``share``) or when the window's errors are concentrated on few templates
(Simpson's index: the chance that two error lines drawn at random share a
template). A crash dump or a mix of unrelated failures spreads over many
templates and stays quiet; one thing failing again and again, or a single
error in a quiet source, does not. A template seen ``routine_count`` times
in the ``routine_lines`` lines before the window is the source's usual state
(a chronic error): it is neither judged nor counted, so it cannot hide a new
storm beside it. Scored first, then learned: a verdict only uses earlier
lines.

>>> from aiops.detectors.logs.config import TemplateBurstConfig
>>> d = TemplateBurstDetector(TemplateBurstConfig(window_lines=10))
>>> [d.observe(t, "critical", 0.0) is None for t in "abcdef"]  # a lone error fires; a spread does not
[False, False, True, True, True, True]
>>> for _ in range(10): _ = d.observe("x", "info", 1.0)
>>> [d.observe("z", "critical", 2.0) is not None for _ in range(3)]  # one template failing again and again
[True, True, True]
>>> d.observe("z", "info", 3.0) is None  # only lines at the configured levels are judged
True
"""

from __future__ import annotations

from collections import Counter, deque

from aiops.detectors.logs.config import TemplateBurstConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import THRESHOLD, exceedance_score


class TemplateBurstDetector:
    """Per-source window of recent lines; flags error lines whose template concentrates the window's errors."""

    name = "template_burst"
    Config = TemplateBurstConfig  # its settings, under logs.template_burst

    def __init__(self, config: TemplateBurstConfig) -> None:
        self.config = config
        self.recent: deque[tuple[str, bool]] = deque(maxlen=config.window_lines)
        self.older: deque[str] = deque()
        self.older_counts: Counter[str] = Counter()

    def observe(self, template_id: str, level: str | None, time: float, *, template: str = "") -> Finding | None:
        is_error = (level or "").lower() in self.config.levels
        finding = self.score(template_id, time, template=template) if is_error else None
        self.learn(template_id, is_error)
        return finding

    def score(self, template_id: str, time: float, *, template: str = "") -> Finding | None:
        cfg = self.config
        if self.is_routine(template_id):
            return None
        counts = Counter(t for t, is_error in self.recent if is_error and not self.is_routine(t))
        counts[template_id] += 1
        errors = sum(counts.values())
        share = counts[template_id] / errors
        concentration = sum((c / errors) ** 2 for c in counts.values())
        ratio = max(share / cfg.min_share, concentration / cfg.min_concentration)
        if ratio < 1.0:
            return None
        return Finding(
            kind="template_burst",
            detector=self.name,
            score=max(exceedance_score(ratio, 1.0), THRESHOLD),
            threshold=THRESHOLD,
            reason=(
                f"template '{template}' is {counts[template_id]} of {errors} error lines in the last "
                f"{len(self.recent) + 1} lines ({len(counts)} error templates)"
            ),
            time=time,
            values={
                "template_errors": float(counts[template_id]),
                "window_errors": float(errors),
                "share": share,
                "concentration": concentration,
                "error_templates": float(len(counts)),
            },
        )

    def is_routine(self, template_id: str) -> bool:
        """Seen often enough before the window that its errors are the source's usual state, not news."""
        routine = self.config.routine_count
        return routine is not None and self.older_counts[template_id] >= routine

    def learn(self, template_id: str, is_error: bool) -> None:
        cfg = self.config
        if self.recent.maxlen != cfg.window_lines:  # settings changed on a restored state
            self.recent = deque(self.recent, maxlen=cfg.window_lines)
        if len(self.recent) == cfg.window_lines:
            self._age(self.recent[0][0])
        self.recent.append((template_id, is_error))

    def _age(self, template_id: str) -> None:
        """A line leaving the window joins the older lines; the oldest of those is forgotten."""
        self.older.append(template_id)
        self.older_counts[template_id] += 1
        while len(self.older) > self.config.routine_lines:
            gone = self.older.popleft()
            self.older_counts[gone] -= 1
            if not self.older_counts[gone]:
                del self.older_counts[gone]
