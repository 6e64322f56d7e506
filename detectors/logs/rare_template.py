"""New and rare templates of one source.

After a warm-up, a template never seen before is a ``new_template`` finding;
one seen at most ``rare_max_count`` times and below ``rare_share`` of the
source's lines is a ``rare_template`` finding. Scored first, then learned.

>>> from aiops.detectors.logs.config import RareTemplateConfig
>>> d = RareTemplateDetector(RareTemplateConfig(warmup_events=3))
>>> [d.observe("a", 0.0) for _ in range(3)]
[None, None, None]
>>> f = d.observe("b", 1.0)
>>> f.kind, f.score >= f.threshold
('new_template', True)
>>> d.observe("a", 2.0) is None
True
"""

from __future__ import annotations

from aiops.detectors.logs.config import RareTemplateConfig
from aiops.detectors.logs.finding import Finding
from aiops.detectors.logs.scoring import THRESHOLD


class RareTemplateDetector:
    """Counts per template id; flags the first and the seldom seen ones."""

    name = "rare_template"
    Config = RareTemplateConfig  # its settings, under logs.rare_template

    def __init__(self, config: RareTemplateConfig) -> None:
        self.config = config
        self.counts: dict[str, int] = {}
        self.total = 0

    def observe(
        self, template_id: str, time: float, *, template: str = "", level: str | None = None
    ) -> Finding | None:
        levels = self.config.levels
        quiet = levels is not None and (level or "").lower() not in levels
        finding = None if quiet else self.score(template_id, time, template=template)
        self.learn(template_id)
        return finding

    def score(self, template_id: str, time: float, *, template: str = "") -> Finding | None:
        cfg = self.config
        if self.total < cfg.warmup_events:
            return None
        seen = self.counts.get(template_id, 0)
        share = seen / self.total
        if seen == 0:
            score = 1.0 - 1.0 / (self.total + 10.0)
            return Finding(
                kind="new_template",
                detector=self.name,
                score=max(score, THRESHOLD),
                threshold=THRESHOLD,
                reason=f"first occurrence of template '{template}' after {self.total} lines of this source",
                time=time,
                values={"seen_before": 0.0, "source_lines": float(self.total)},
            )
        if seen <= cfg.rare_max_count and share < cfg.rare_share:
            score = THRESHOLD + (1 - THRESHOLD) * (1 - share / cfg.rare_share) * 0.5
            return Finding(
                kind="rare_template",
                detector=self.name,
                score=score,
                threshold=THRESHOLD,
                reason=f"rare template '{template}': seen {seen} times in {self.total} lines",
                time=time,
                values={"seen_before": float(seen), "source_lines": float(self.total), "share": share},
            )
        return None

    def learn(self, template_id: str) -> None:
        self.counts[template_id] = self.counts.get(template_id, 0) + 1
        self.total += 1
