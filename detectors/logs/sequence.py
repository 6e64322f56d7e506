"""Unexpected template sequences, in the spirit of DeepLog (counts instead of an LSTM).

For each context (the last ``order`` template ids of the source) the
successors seen so far are counted. Once a context has been seen
``min_context`` times, a successor that is neither among its
``top_candidates`` most frequent ones and whose (smoothed) share is below
``max_share`` is unusual; a ``sequence`` finding needs ``min_unusual`` unusual
transitions among the last ``evidence_lines``: one odd step is not a broken
path. Scored first, then learned.

>>> from aiops.detectors.logs.config import SequenceConfig
>>> d = SequenceDetector(SequenceConfig(order=1, top_candidates=1, min_context=10, max_share=0.05, min_unusual=1))
>>> hits = [d.observe(t, float(i)) for i, t in enumerate("ab" * 20)]
>>> any(hits)
False
>>> f = d.observe("c", 41.0)
>>> f.kind, f.values["seen_after_context"]
('sequence', 0.0)
"""

from __future__ import annotations

import math
from collections import deque

from aiops.detectors.logs.config import SequenceConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import exceedance_score


class SequenceDetector:
    """Successor counts per context of the last templates; flags successors never or seldom seen."""

    name = "sequence"
    Config = SequenceConfig  # its settings, under logs.sequence

    def __init__(self, config: SequenceConfig) -> None:
        self.config = config
        self.recent: deque[str] = deque(maxlen=config.order)
        self.successors: dict[tuple[str, ...], dict[str, int]] = {}
        self.totals: dict[tuple[str, ...], int] = {}  # successors counted per context
        self.unusual: deque[bool] = deque(maxlen=config.evidence_lines)

    def observe(self, template_id: str, time: float, *, template: str = "", judge: bool = True) -> Finding | None:
        """Score then learn; ``judge=False`` only learns (a brand-new template is reported elsewhere)."""
        context = tuple(self.recent)
        ready = judge and len(context) == self.config.order
        finding = self._score(context, template_id, time, template) if ready else None
        self._learn(context, template_id)
        if self.unusual.maxlen != self.config.evidence_lines:  # settings changed on a restored state
            self.unusual = deque(self.unusual, maxlen=self.config.evidence_lines)
        self.unusual.append(finding is not None)
        if finding is None or sum(self.unusual) < self.config.min_unusual:
            return None
        finding.values["unusual_recent"] = float(sum(self.unusual))
        finding.reason += f"; {sum(self.unusual)} of the last {len(self.unusual)} transitions were unusual"
        return finding

    def _score(self, context: tuple[str, ...], template_id: str, time: float, template: str) -> Finding | None:
        cfg = self.config
        counts = self.successors.get(context)
        if not counts:
            return None
        total = self.totals[context]
        if total < cfg.min_context:
            return None
        seen = counts.get(template_id, 0)
        if (seen + 0.5) / (total + 1.0) > cfg.max_share:
            return None  # a common successor: no need to rank them
        share = seen / total
        top = sorted(counts.values(), reverse=True)[: cfg.top_candidates]
        if seen and seen >= top[-1]:
            return None
        surprise = -math.log10((seen + 0.5) / (total + 1.0))  # smoothed: never-seen is not infinite
        if surprise < -math.log10(cfg.max_share):
            return None
        return Finding(
            kind="sequence",
            detector=self.name,
            score=exceedance_score(surprise, -math.log10(cfg.max_share)),
            threshold=0.9,
            reason=(
                f"template '{template}' followed its preceding templates {seen} times in {total} "
                f"(usually one of {len(counts)} others)"
            ),
            time=time,
            values={"seen_after_context": float(seen), "context_seen": float(total), "share": share},
        )

    def _learn(self, context: tuple[str, ...], template_id: str) -> None:
        if len(context) == self.config.order:
            counts = self.successors.get(context)
            if counts is None and len(self.successors) < self.config.max_contexts:
                counts = self.successors[context] = {}
            if counts is not None:
                counts[template_id] = counts.get(template_id, 0) + 1
                self.totals[context] = self.totals.get(context, 0) + 1
        self.recent.append(template_id)
