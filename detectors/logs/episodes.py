"""Episodes of the line detectors other than the judge: one alert when an episode opens, an explicit end.

A detector's finding on a key (a template and position for parameters, the
source for sequences and error bursts) opens an episode if none is open for
that key: that line alerts. Further findings on the key while it is open
belong to it (flagged, not alerted). It ends once the key has been quiet for
``quiet_lines`` lines of the source and ``quiet_s`` seconds.

>>> book = EpisodeBook(quiet_lines=3, quiet_s=0.0)
>>> book.see("p:1", line=0, time=0.0), book.see("p:1", line=1, time=1.0)
((1, True), (1, False))
>>> [e.key for e in book.expire(line=5, time=5.0)], book.see("p:1", line=6, time=6.0)
(['p:1'], (2, True))
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


class EpisodeBook:
    """Open episodes per key of one source and one detector kind."""

    def __init__(self, *, quiet_lines: int, quiet_s: float) -> None:
        self.quiet_lines = quiet_lines
        self.quiet_s = quiet_s
        self.open: dict[str, KeyEpisode] = {}
        self.count = 0

    def see(self, key: str, *, line: int, time: float) -> tuple[int, bool]:
        """A finding on ``key``: (episode number, whether it opened one)."""
        episode = self.open.get(key)
        if episode is not None:
            episode.last_line, episode.last_time = line, time
            episode.lines += 1
            return episode.number, False
        self.count += 1
        self.open[key] = KeyEpisode(key, self.count, time, line, time)
        return self.count, True

    def expire(self, *, line: int, time: float) -> list[KeyEpisode]:
        """End and return the episodes quiet for long enough."""
        if not self.open:
            return []
        ended = [
            e for e in self.open.values()
            if line - e.last_line >= self.quiet_lines and time - e.last_time >= self.quiet_s
        ]
        for episode in ended:
            del self.open[episode.key]
        return ended
