"""Checks every normalised event passes before it enters the pipeline.

Non-finite feature values and event times outside ``[now - max_past_s,
now + max_future_s]`` are refused with the reason; exact duplicates (the
fields of ``Event.dedup_key``, a bounded LRU of ``dedup_cache`` keys) are dropped; new
series beyond ``max_series`` are refused. The state is in memory, one per worker.

``rejected_<class>`` counts dead-letter records, not refused items: the
normaliser calls ``count_reject`` once for each reject it hands on as a dead
letter (a payload with nothing good is one dead letter however many of its
items were bad). ``refused_series`` counts the events the series cap refused.

>>> from aiops.pipeline.config import IngestSettings
>>> from aiops.detectors.core.shapes import Event
>>> guard = IngestGuard(IngestSettings(max_series=1))
>>> e = Event("metric", "cpu|host=a", {"host": "a"}, 1000.0, {"user": 1.0})
>>> guard.admit(e, now=1000.0), guard.admit(e, now=1000.0)
(True, False)
>>> from structlog.testing import capture_logs
>>> with capture_logs() as logs:
...     try:
...         guard.admit(Event("metric", "mem|host=a", {"host": "a"}, 1000.0, {"used": 1.0}), now=1000.0)
...     except GuardReject as exc:
...         print(exc.reason_class, "-", exc)
series_cap - series cap 1 reached: series 'mem|host=a' refused
>>> logs[0]["event"]
'series_cap_reached'
>>> guard.stats()["accepted"], guard.stats()["duplicates"], guard.refused_series, guard.stats()["rejected_series_cap"]
(1, 1, 1, 0)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from itertools import repeat
from operator import itemgetter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from aiops.detectors.core.errors import ConfigError, InputError
from aiops.detectors.core.shapes import Event
from aiops.pipeline.config import IngestSettings
from aiops.pipeline.normalise.timestamps import iso

log = structlog.get_logger(__name__)

_FIRST = itemgetter(0)
_VALUE = itemgetter(1)

REASON_CLASSES = ("parse", "non_finite", "too_old", "too_new", "series_cap", "internal")


def duplicate_key(event: Event, distinct: Hashable = None) -> int:
    """A 64-bit key over the fields of ``Event.dedup_key`` (series, time, values, message).

    Several times cheaper than the hex digest; the keys live only in this
    process's memory, where a collision among 10^5..10^6 keys is about 1 in 10^8.
    ``distinct`` tells apart events that are equal in those fields but are not
    copies of each other (two processes logging the same line in one second).

    >>> a = Event("metric", "cpu", {}, 1.0, {"u": 1.0, "s": 2.0})
    >>> duplicate_key(a) == duplicate_key(Event("metric", "cpu", {}, 1.0, {"s": 2.0, "u": 1.0}))
    True
    """
    features = event.features
    values = tuple(sorted(features.items())) if len(features) > 1 else tuple(features.items())
    return hash((event.series_id, event.time, values, event.message, distinct))


class GuardReject(InputError):
    """An event the guard refuses; ``reason_class`` is one of ``REASON_CLASSES``."""

    def __init__(self, reason_class: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_class = reason_class


class IngestGuard:
    """Validity, freshness, dedup and cardinality checks with counters (``stats()``)."""

    def __init__(self, settings: IngestSettings | None = None) -> None:
        self.settings = settings if settings is not None else IngestSettings()
        try:
            self.zone = ZoneInfo(self.settings.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"ingest.default_timezone: unknown time zone {self.settings.default_timezone!r}"
            ) from None
        self.formats = self.settings.formats.chosen()  # topic kind -> (name, format) where not auto
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._series: set[str] = set()
        self.accepted = 0
        self.duplicates = 0
        self.refused_series = 0
        self.rejected = dict.fromkeys(REASON_CLASSES, 0)
        self._cap_logged = False

    def admit(self, event: Event, *, now: float, distinct: Hashable = None) -> bool:
        """True to keep the event, False for a duplicate; raises ``GuardReject`` to refuse it.

        Events equal in series, time, values and message but with different
        ``distinct`` values are not duplicates of each other.
        """
        return self.admit_values(event.series_id, event.time, event.features, now, event.message, distinct)

    def admit_values(self, series_id: str, time: float, features: dict[str, float], now: float,
                     message: str | None = None, distinct: Hashable = None) -> bool:
        """``admit`` of the event with these fields, without the event (the normaliser's fast path has none yet).

        >>> guard = IngestGuard()
        >>> guard.admit_values("cpu", 5.0, {"u": 1.0}, 5.0), guard.admit(Event("metric", "cpu", {}, 5.0, {"u": 1.0}),
        ...                                                                now=5.0)
        (True, False)
        """
        settings = self.settings
        for name, value in features.items():
            if not math.isfinite(value):
                self._refuse("non_finite", f"feature {name!r} is {'NaN' if value != value else 'infinite'}")
        if not math.isfinite(time):
            self._refuse("non_finite", f"event time {time!r} is not a finite number")
        if time < now - settings.max_past_s:
            self._refuse(
                "too_old",
                f"event time {iso(time)} is older than now - {settings.max_past_s:g}s "
                f"(now {iso(now)})",
            )
        if time > now + settings.max_future_s:
            self._refuse(
                "too_new",
                f"event time {iso(time)} is later than now + {settings.max_future_s:g}s "
                f"(now {iso(now)})",
            )
        if settings.dedup_cache:  # the key of ``duplicate_key``, inline: this runs for every event
            values = tuple(sorted(features.items())) if len(features) > 1 else tuple(features.items())
            key = hash((series_id, time, values, message, distinct))
            recent = self._recent
            if key in recent:
                recent.move_to_end(key)
                self.duplicates += 1
                return False
            recent[key] = None
            if len(recent) > settings.dedup_cache:
                recent.popitem(last=False)
        if series_id not in self._series:
            if len(self._series) >= settings.max_series:
                self.refused_series += 1
                self._log_cap_once()
                self._refuse(
                    "series_cap",
                    f"series cap {settings.max_series} reached: series {series_id[:120]!r} refused",
                )
            self._series.add(series_id)
        self.accepted += 1
        return True

    def admit_all(self, series_ids: list[str], times: list[float], features: list[dict[str, float]],
                  pairs: list[tuple[tuple[str, float], ...]], now: float) -> bool:
        """Admit every one of these events at once when none is refused or a duplicate (True); else admit none
        and change nothing (False: the caller admits them one by one, ``admit_values``).

        Admitted this way, the events leave the guard as ``admit_values`` in order would: the same keys in the
        dedup cache in the same order, the same series, the same counts. ``pairs`` is ``tuple(f.items())``
        of each event's features (its dedup key, one feature a series).

        >>> guard = IngestGuard()
        >>> guard.admit_all(["a", "b"], [5.0, 5.0], [{"u": 1.0}, {"u": 2.0}], [(("u", 1.0),), (("u", 2.0),)], 5.0)
        True
        >>> guard.admit_all(["c", "a"], [5.0, 5.0], [{"u": 3.0}, {"u": 1.0}], [(("u", 3.0),), (("u", 1.0),)], 5.0)
        False
        >>> guard.admit_values("a", 5.0, {"u": 1.0}, 5.0), guard.stats()["accepted"], guard.stats()["series_seen"]
        (False, 2, 2)
        """
        settings = self.settings
        n = len(series_ids)
        if (not n or any(len(p) != 1 for p in pairs) or not all(map(math.isfinite, map(_VALUE, map(_FIRST, pairs))))
                or not math.isfinite(sum(times)) or min(times) < now - settings.max_past_s
                or max(times) > now + settings.max_future_s):
            return False
        keys: list[int] = []
        recent = self._recent
        if settings.dedup_cache:
            keys = list(map(hash, zip(series_ids, times, pairs, repeat(None, n), repeat(None, n))))
            if len(set(keys)) != n or not recent.keys().isdisjoint(keys):
                return False
        new = set(series_ids) - self._series
        if new and len(self._series) + len(new) > settings.max_series:
            return False
        if settings.dedup_cache:
            recent.update(zip(keys, repeat(None, n)))
            for _ in range(len(recent) - settings.dedup_cache):
                recent.popitem(last=False)
        self._series |= new
        self.accepted += n
        return True

    def count_reject(self, reason_class: str) -> None:
        """Count one dead-letter record of ingest, by the class of its reason."""
        self.rejected[reason_class] += 1

    def stats(self) -> dict[str, int]:
        """Counters since start: accepted, duplicates, rejected_<class>, series_seen, refused_series."""
        stats = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "series_seen": len(self._series),
            "refused_series": self.refused_series,
        }
        stats.update({f"rejected_{k}": v for k, v in self.rejected.items()})
        return stats

    def _refuse(self, reason_class: str, reason: str) -> None:
        raise GuardReject(reason_class, reason)

    def _log_cap_once(self) -> None:
        if not self._cap_logged:
            self._cap_logged = True
            log.warning("series_cap_reached", max_series=self.settings.max_series)
