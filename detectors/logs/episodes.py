"""Episodes of the line detectors other than the judge: one alert when an episode opens, an explicit end.

A detector's finding on a key (a template and position for parameters, the
source for sequences and error bursts) opens an episode if none is open for
that key: that line alerts. Further findings on the key while it is open
belong to it (flagged, not alerted). It ends once the key has been quiet for
``quiet_lines`` lines of the source and ``quiet_s`` seconds. An episode that
reached ``accept_lines`` findings or lasted ``accept_s`` seconds is accepted:
its pattern is the source's new normal, and further findings on the key are
neither flagged nor alerted until it has been quiet (a new episode may then
open).

>>> book = EpisodeBook(quiet_lines=3, quiet_s=0.0)
>>> book.see("p:1", line=0, time=0.0), book.see("p:1", line=1, time=1.0)
((1, True), (1, False))
>>> [e.key for e in book.expire(line=5, time=5.0)], book.see("p:1", line=6, time=6.0)
(['p:1'], (2, True))
>>> storm = EpisodeBook(quiet_lines=3, quiet_s=0.0, accept_lines=2)
>>> [storm.see("", line=i, time=float(i)) for i in range(4)]
[(1, True), (1, False), (1, None), (1, None)]
>>> [(e.key, e.reason) for e in storm.take_accepted()]
[('', 'accepted')]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class KeyEpisode:
    key: str
    number: int
    opened_time: float
    last_line: int
    last_time: float
    lines: int = 1
    reason: str = ""  # 'accepted' once its pattern is taken as normal


class EpisodeBook:
    """Open episodes per key of one source and one detector kind."""

    def __init__(
        self, *, quiet_lines: int, quiet_s: float, accept_lines: int | None = None, accept_s: float | None = None
    ) -> None:
        self.quiet_lines = quiet_lines
        self.quiet_s = quiet_s
        self.accept_lines = accept_lines
        self.accept_s = accept_s
        self.open: dict[str, KeyEpisode] = {}
        self.count = 0
        self.accepted: list[KeyEpisode] = []

    def see(self, key: str, *, line: int, time: float) -> tuple[int, bool | None]:
        """A finding on ``key``: (episode number, True if it opened one, False if it belongs to an open
        one, None if that episode is accepted: the finding is the new normal, not flagged)."""
        episode = self.open.get(key)
        if episode is not None:
            episode.last_line, episode.last_time = line, time
            episode.lines += 1
            if episode.reason:
                return episode.number, None
            if (self.accept_lines is not None and episode.lines > self.accept_lines) or (
                self.accept_s is not None and time - episode.opened_time >= self.accept_s
            ):
                episode.reason = "accepted"
                self.accepted.append(episode)
                return episode.number, None
            return episode.number, False
        self.count += 1
        self.open[key] = KeyEpisode(key, self.count, time, line, time)
        return self.count, True

    def take_accepted(self) -> list[KeyEpisode]:
        """Episodes accepted since the last call (the caller reports them as ended)."""
        accepted, self.accepted = self.accepted, []
        return accepted

    def expire(self, *, line: int, time: float) -> list[KeyEpisode]:
        """End and return the episodes quiet for long enough (an accepted one is dropped: it was reported
        when it was accepted)."""
        if not self.open:
            return []
        ended = [
            e for e in self.open.values()
            if line - e.last_line >= self.quiet_lines and time - e.last_time >= self.quiet_s
        ]
        for episode in ended:
            del self.open[episode.key]
        return [e for e in ended if not e.reason]
