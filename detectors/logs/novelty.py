"""The line judge of one source: level, content and template novelty as evidence; episodes per template.

Each line's evidence, in log-odds, adds three parts:

- its level's weight, scaled by how informative the level is in this source:
  a level that most of the source's normal lines carry (a component that
  logs everything as FATAL) says little;
- its content prior (``content.ContentPrior``): fault words, kernel and
  hardware terms, client errors, state dumps;
- its template's novelty: a new template weighs by how seldom the source
  meets new ones (Good-Turing: new templates among its recent lines), a known
  one less as it recurs in ordinary lines, and a familiar one counts against.

At ``threshold`` the line opens an episode of its template: one alert. The
template's next lines belong to the episode (flagged, not alerted again) until
it ends: quiet (no line of it for ``quiet_lines`` of the source and
``quiet_s``), or accepted as normal (``accept_after`` ordinary lines of the
source came in between: the system works beside it, and the template becomes
familiar), or after ``accept_lines`` lines of it (or ``accept_s`` seconds, when
set): a long storm of one pattern is the new normal; it paged once, its later
lines are not flagged, and the source's error-burst count leaves it out. Recurrences inside a storm (the source's recent lines mostly
flagged) do not make a template familiar: novelty settles only with
recurrence in ordinary patterns. Flagged lines are not learned as the
source's usual levels. Scored first, then learned.

>>> from aiops.detectors.logs.config import NoveltyConfig
>>> judge = NoveltyJudge(NoveltyConfig(young_lines=1, warmup_lines=10))
>>> for i in range(50): _ = judge.observe(f"t{i % 5}", "info", float(i), content=0.0)
>>> v = judge.observe("boom", "critical", 50.0, content=1.5)
>>> v.opened, v.kind, v.evidence >= 3.0
(True, 'new_template', True)
>>> again = judge.observe("boom", "critical", 51.0, content=1.5)
>>> again.opened, again.episode == v.episode
(False, True)
>>> judge.observe("t1", "info", 52.0, content=0.0) is None
True
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from aiops.detectors.logs.config import NoveltyConfig


@dataclass(slots=True)
class Verdict:
    """A flagged line: it opened an episode (``opened``) or belongs to one."""

    kind: str
    evidence: float
    episode: int
    opened: bool
    seen_before: int
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Episode:
    """An open episode of one template in one source."""

    number: int
    kind: str
    opened_line: int
    opened_time: float
    last_line: int
    last_time: float
    lines: int = 1
    ordinary_since: int = 0
    peak: float = 0.0


@dataclass(slots=True)
class Ended:
    """An episode that ended, and why: ``quiet`` or ``accepted`` (its pattern is now normal)."""

    template_id: str
    episode: Episode
    reason: str
    time: float


class NoveltyJudge:
    """Per-source evidence for each line, and the open episodes of its templates."""

    name = "novelty"
    Config = NoveltyConfig  # its settings, under logs.novelty

    def __init__(self, config: NoveltyConfig) -> None:
        self.config = config
        self.lines = 0
        self.normal_lines = 0
        self.level_counts: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.ordinary: dict[str, int] = {}
        self.recent_flagged: deque[bool] = deque(maxlen=config.context_lines)
        self.recent_new: deque[bool] = deque(maxlen=200)
        self.episodes: dict[str, Episode] = {}
        self.accepted: set[str] = set()  # templates whose episode was accepted: the source's new normal
        self.opened = 0
        self.ended: list[Ended] = []

    def observe(
        self, template_id: str, level: str | None, time: float, *, content: float, judge: bool = True
    ) -> Verdict | None:
        """Judge one line (its template, level, content prior), then learn it; ``judge=False`` only learns
        (a replayed history: taught as normal, never flagged)."""
        cfg = self.config
        if self.episodes:
            self._end_quiet(time)
        level = (level or "").lower()
        parts = self.evidence(template_id, level, content)
        evidence = sum(parts.values())
        if evidence > 0:
            evidence *= min(1.0, (self.lines + 1) / cfg.young_lines)
        seen = self.counts.get(template_id, 0)
        verdict = None
        episode = self.episodes.get(template_id)
        if episode is not None:
            episode.last_line, episode.last_time = self.lines, time
            episode.lines += 1
            episode.peak = max(episode.peak, evidence)
            if (
                episode.ordinary_since >= cfg.accept_after
                or episode.lines > cfg.accept_lines
                or (cfg.accept_s is not None and time - episode.opened_time >= cfg.accept_s)
            ):
                self._end(template_id, "accepted", time)
                self.ordinary[template_id] = max(self.ordinary.get(template_id, 0), cfg.familiar_after)
            else:
                verdict = Verdict(episode.kind, evidence, episode.number, False, seen, parts)
        elif judge and evidence >= cfg.threshold:
            self.opened += 1
            kind = "new_template" if seen == 0 else "rare_template"
            self.episodes[template_id] = Episode(self.opened, kind, self.lines, time, self.lines, time, peak=evidence)
            verdict = Verdict(kind, evidence, self.opened, True, seen, parts)
        self._learn(template_id, level, verdict is not None, evidence, seen)
        return verdict

    def evidence(self, template_id: str, level: str, content: float) -> dict[str, float]:
        """The parts of a line's evidence (log-odds): level, content, novelty."""
        cfg = self.config
        weight = cfg.level_weights.get(level, cfg.unknown_level_weight)
        if weight > 0 and self.normal_lines >= cfg.warmup_lines:
            weight *= _information(self.level_counts.get(level, 0) / self.normal_lines)
        seen = self.counts.get(template_id, 0)
        if seen == 0:
            new_share = (sum(self.recent_new) + 1) / (len(self.recent_new) + 2)
            novelty = min(cfg.new_max, -math.log10(new_share)) * min(1.0, self.lines / cfg.warmup_lines)
        else:
            familiar = min(1.0, self.ordinary.get(template_id, 0) / cfg.familiar_after)
            novelty = cfg.rare_weight * (1.0 - familiar) - cfg.familiar_weight * familiar
        return {"level": weight, "content": content, "novelty": novelty}

    def _learn(self, template_id: str, level: str, flagged: bool, evidence: float, seen: int) -> None:
        cfg = self.config
        ordinary_context = sum(self.recent_flagged) <= len(self.recent_flagged) / 2
        if not flagged:
            if evidence < cfg.ordinary_below:
                for episode in self.episodes.values():
                    episode.ordinary_since += 1
            if ordinary_context and (template_id in self.ordinary or len(self.ordinary) < cfg.max_templates):
                self.ordinary[template_id] = self.ordinary.get(template_id, 0) + 1
            self.level_counts[level] = self.level_counts.get(level, 0) + 1
            self.normal_lines += 1
        self.recent_flagged.append(flagged)
        self.recent_new.append(seen == 0)
        if seen or len(self.counts) < cfg.max_templates:
            self.counts[template_id] = seen + 1
        self.lines += 1

    def _end_quiet(self, time: float) -> None:
        cfg = self.config
        for template_id, episode in list(self.episodes.items()):
            if self.lines - episode.last_line >= cfg.quiet_lines and time - episode.last_time >= cfg.quiet_s:
                self._end(template_id, "quiet", time)

    def _end(self, template_id: str, reason: str, time: float) -> None:
        episode = self.episodes.pop(template_id)
        if reason == "accepted" and len(self.accepted) < self.config.max_templates:
            self.accepted.add(template_id)
        self.ended.append(Ended(template_id, episode, reason, time))

    def take_ended(self) -> list[Ended]:
        """Episodes that ended since the last call (the caller reports them)."""
        ended, self.ended = self.ended, []
        return ended


def _information(share: float) -> float:
    """How much a feature carried by ``share`` of the normal lines says: 1 up to 5 %, 0 when all carry it.

    >>> _information(0.01), round(_information(0.25), 2), _information(1.0)
    (1.0, 0.46, 0.0)
    """
    if share <= 0.05:
        return 1.0
    return max(0.0, math.log(1.0 / share) / math.log(20.0))
