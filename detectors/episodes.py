"""Anomaly episodes: one opening per incident (what pages a person), an explicit end, vectorised over series.

An episode opens on a point the detectors flag whose evidence (surprise in
decades, see ``aiops.detectors.surprise``) is at least ``open_surprise``, or
on any warm point whose evidence alone reaches ``strong_surprise``. It stays
open while points are flagged or their evidence alone is still at least
``open_surprise`` (or, with ``stay_surprise``, still surprising), and ends in
one of two ways:

- ``returned``: ``close_after`` points in a row were not flagged: the series
  is back at its baseline;
- ``accepted``: it lasted ``horizon_s`` seconds: the new behaviour is the
  new normal (a change point, "level shift accepted"), and the engine
  re-bases the series' detectors on it.

>>> import numpy as np
>>> from aiops.detectors.slots import SlotStore
>>> ep = Episodes(EpisodeRules(horizon_s=7.0, close_after=2))
>>> store = SlotStore(ep.fields())
>>> rows = store.rows(["a"])
>>> flags = [0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
>>> trace = [ep.step(store.arrays, rows, np.array([float(t)]), np.array([bool(f)]), np.array([4.5 * f]),
...                  np.array([True])) for t, f in enumerate(flags)]
>>> [int(r.alert[0]) for r in trace]
[0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
>>> [int(r.episode[0]) for r in trace]
[0, 1, 1, 1, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 0]
>>> [(t, END_REASONS[int(r.ended[0])]) for t, r in enumerate(trace) if r.ended[0]]
[(4, 'returned'), (13, 'accepted')]

Evidence that opened an episode unflagged and hovers about the bar keeps it open: one page, not three.

>>> rows = store.rows(["b"])
>>> evidence = [0.0, 5.5, 4.2, 4.8, 4.4, 5.1, 1.0, 1.0, 1.0, 1.0]
>>> trace = [ep.step(store.arrays, rows, np.array([float(t)]), np.array([False]), np.array([e]), np.array([True]))
...          for t, e in enumerate(evidence)]
>>> [int(r.alert[0]) for r in trace], [(t, END_REASONS[int(r.ended[0])]) for t, r in enumerate(trace) if r.ended[0]]
([0, 1, 0, 0, 0, 0, 0, 0, 0, 0], [(7, 'returned')])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

END_REASONS = ("", "returned", "accepted")
RETURNED, ACCEPTED = 1, 2


@dataclass(frozen=True)
class EpisodeRules:
    """When an episode opens, stays open and ends (see the module docstring)."""

    horizon_s: float = 3600.0
    close_after: int = 3
    open_surprise: float = 4.0
    strong_surprise: float = 5.0
    stay_surprise: float | None = None


@dataclass
class EpisodeStep:
    """Per row: inside an episode after this point, whether it opened here, its id (0: none), why one ended."""

    open: np.ndarray
    alert: np.ndarray
    episode: np.ndarray
    ended: np.ndarray


class Episodes:
    """The episode state machine over rows of a ``SlotStore`` (fields from ``fields()``)."""

    def __init__(self, rules: EpisodeRules) -> None:
        self.rules = rules

    @staticmethod
    def fields() -> dict[str, tuple[tuple[int, ...], float | int]]:
        return {"ep_open": ((), 0), "ep_count": ((), 0), "ep_start": ((), 0.0), "ep_quiet": ((), 0)}

    def step(self, arrays: dict[str, np.ndarray], rows: np.ndarray, times: np.ndarray, flagged: np.ndarray,
             surprise: np.ndarray, warm: np.ndarray, vouched: np.ndarray | None = None,
             alone: np.ndarray | None = None) -> EpisodeStep:
        """Advance each row's series by one point (each series at most once per call).

        ``surprise``: the evidence a flagged point is judged by; ``alone``: the
        evidence a point must show to open an episode unflagged (default the
        same); ``vouched``: flags that open an episode whatever the evidence (a
        joint detector's, on a multivariate series).
        """
        r = self.rules
        was_open = arrays["ep_open"][rows].astype(bool)
        count, start, quiet = arrays["ep_count"][rows], arrays["ep_start"][rows], arrays["ep_quiet"][rows]
        trusted = surprise >= r.open_surprise if vouched is None else vouched | (surprise >= r.open_surprise)
        alone = surprise if alone is None else alone
        opens = ~was_open & warm & ((flagged & trusted) | (alone >= r.strong_surprise))
        # evidence that lasts is one incident: a point whose evidence alone would let a flag open an episode
        # keeps one open (a lower bar to stay than to open, so evidence hovering near the bar pages once)
        busy = flagged | (alone >= r.open_surprise)
        if r.stay_surprise is not None:
            busy |= surprise >= r.stay_surprise
        quiet = np.where(was_open & ~busy, quiet + 1, 0)
        returned = was_open & (quiet >= r.close_after)
        accepted = was_open & ~returned & (times - start >= r.horizon_s)
        now_open = (was_open & ~returned & ~accepted) | opens
        count = count + opens
        start = np.where(opens, times, start)
        arrays["ep_open"][rows] = now_open
        arrays["ep_count"][rows] = count
        arrays["ep_start"][rows] = start
        arrays["ep_quiet"][rows] = np.where(now_open, quiet, 0)
        ended = np.where(returned, RETURNED, np.where(accepted, ACCEPTED, 0)).astype(np.int8)
        # the point that ends an episode by returning is back to normal; the one that accepts belonged to it
        in_episode = now_open | accepted
        return EpisodeStep(in_episode, opens, np.where(in_episode, count, 0), ended)
