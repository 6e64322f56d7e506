"""Scored points as InfluxDB line protocol: values, scores and episode events.

One scored point becomes:

- ``aiops_value``: one line per feature, tag ``feature``, field ``value``;
- ``aiops_score``: fields ``anomaly_score`` (the point's surprise in [0, 1)),
  ``score`` (the calibrated ensemble score), ``threshold``, ``is_anomaly``
  (1 inside an episode), ``alert`` (1 on the point that opened it),
  ``episode`` (its number, 0 for none) and, when asked, one
  ``detector_<name>`` field per detector (its calibrated score);
- ``aiops_episode``: a line with tag ``event=open`` on the point that opened
  an episode, and one with ``event=end`` and tag ``reason`` (returned or
  accepted) on the point where it ended; field ``episode`` (and
  ``anomaly_score``).

Every line carries the tags ``series`` (the series id), ``host`` and
``service`` (from the series' labels, when it has them): the other labels
are in the series id already, and would only multiply InfluxDB's series.
Escaping follows influxdb-client's ``Point``; values that are not finite are
left out (line protocol has no NaN).

>>> from aiops.detectors.core.shapes import Event, Score
>>> e = Event("metric", "cpu|host=web 1", {"host": "web 1"}, 1.5, {"user": 97.0})
>>> s = Score("cpu|host=web 1", 1.5, 0.99, 0.9, True, anomaly_score=0.8, alert=True, episode=1)
>>> for line in point_lines(e, s, detectors=False):
...     print(line)
aiops_value,feature=user,host=web\\ 1,series=cpu|host\\=web\\ 1 value=97 1500000000
aiops_score,host=web\\ 1,series=cpu|host\\=web\\ 1 alert=1i,anomaly_score=0.8,episode=1i,is_anomaly=1i,score=0.99,threshold=0.9 1500000000
aiops_episode,event=open,host=web\\ 1,series=cpu|host\\=web\\ 1 anomaly_score=0.8,episode=1i 1500000000
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from aiops.detectors.core.shapes import Event, Score

VALUE_MEASUREMENT = "aiops_value"
SCORE_MEASUREMENT = "aiops_score"
EPISODE_MEASUREMENT = "aiops_episode"

#: Labels of a series copied to tags (besides ``series``): the dashboards' variables filter on them.
TAG_LABELS = ("host", "service")

_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})


def escape_key(text: str) -> str:
    """A tag key, tag value or field key as line protocol writes it.

    >>> escape_key("a b,c=d")
    'a\\\\ b\\\\,c\\\\=d'
    """
    return text.translate(_ESCAPE_KEY)


def escape_tag_value(text: str) -> str:
    """A tag value: escaped like a key, and a trailing backslash kept from escaping the separator."""
    escaped = text.translate(_ESCAPE_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


def format_float(value: float) -> str:
    """A float field value (whole numbers without ``.0``, as influxdb-client writes them).

    >>> format_float(3.0), format_float(0.25)
    ('3', '0.25')
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def epoch_ns(seconds: float) -> int:
    """Epoch seconds as integer nanoseconds, exact to the microsecond (``seconds * 1e9`` as a float is off by
    up to 128 ns at today's epoch: a double has 53 bits).

    >>> epoch_ns(1_700_000_000.25), int(round(1_700_000_000.25 * 1e9))
    (1700000000250000000, 1700000000249999872)
    """
    return int(round(seconds * 1e6)) * 1000


def series_tags(series_id: str, labels: dict[str, str]) -> dict[str, str]:
    """The tags every line of a series carries: ``series``, and ``host`` and ``service`` when it has them.

    >>> series_tags("cpu|host=a,pod=p1", {"host": "a", "pod": "p1", "service": ""})
    {'host': 'a', 'series': 'cpu|host=a,pod=p1'}
    """
    tags = {name: labels[name] for name in TAG_LABELS if labels.get(name)}
    tags["series"] = series_id
    return tags


def tags_text(tags: dict[str, str]) -> str:
    """The escaped ``,key=value`` tag part of a line, keys sorted (empty values left out).

    >>> print(tags_text({"series": "cpu|host=a b", "host": "a b"}))
    ,host=a\\ b,series=cpu|host\\=a\\ b
    """
    return "".join(f",{escape_key(k)}={escape_tag_value(tags[k])}" for k in sorted(tags) if tags[k])


def line(measurement: str, tags: dict[str, str], fields: dict[str, float | int], ns: int) -> str | None:
    """One line; integer fields get the ``i`` suffix, non-finite floats are left out (None: no field left)."""
    parts = []
    for name in sorted(fields):
        value = fields[name]
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{escape_key(name)}={value}i")
        elif math.isfinite(value):
            parts.append(f"{escape_key(name)}={format_float(value)}")
    if not parts:
        return None
    return f"{measurement.translate(_ESCAPE_MEASUREMENT)}{tags_text(tags)} {','.join(parts)} {ns}"


class LineEncoder:
    """Encodes scored points (``lines``); remembers the escaped tags of each series and the escaped names of
    features and detectors, so a point costs a few string joins (at most ``max_series`` series remembered)."""

    def __init__(self, *, detectors: bool = True, max_series: int = 100_000) -> None:
        self.detectors = detectors
        self.max_series = max_series
        self._tags: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def _series_tags(self, event: Event) -> str:
        tags = self._tags.get(event.series_id)
        if tags is None:
            if len(self._tags) >= self.max_series:
                self._tags.clear()
            tags = self._tags[event.series_id] = tags_text(series_tags(event.series_id, event.labels))
        return tags

    def _name(self, name: str) -> str:
        escaped = self._names.get(name)
        if escaped is None:
            if len(self._names) >= self.max_series:
                self._names.clear()
            escaped = self._names[name] = escape_key(name)
        return escaped

    def lines(self, event: Event, score: Score) -> list[str]:
        """The lines of one scored point (see the module's docstring), tags and fields sorted."""
        ns = epoch_ns(event.time)
        tags = self._series_tags(event)
        isfinite = math.isfinite
        out = [f"{VALUE_MEASUREMENT},feature={self._name(feature)}{tags} value={format_float(value)} {ns}"
               for feature, value in sorted(event.features.items()) if isfinite(value)]  # "feature" sorts first
        fields = [f"alert={int(score.alert)}i"]
        if isfinite(score.anomaly_score):
            fields.append(f"anomaly_score={format_float(score.anomaly_score)}")
        if self.detectors:
            detectors = score.detectors
            fields += [f"{self._name('detector_' + name)}={format_float(detectors[name])}"
                       for name in sorted(detectors) if isfinite(detectors[name])]
        fields.append(f"episode={int(score.episode)}i")
        fields.append(f"is_anomaly={int(score.is_anomaly)}i")
        if isfinite(score.score):
            fields.append(f"score={format_float(score.score)}")
        if isfinite(score.threshold):
            fields.append(f"threshold={format_float(score.threshold)}")
        out.append(f"{SCORE_MEASUREMENT}{tags} {','.join(fields)} {ns}")
        if score.alert or score.ended:  # rare: the general path
            base = series_tags(event.series_id, event.labels)
            episode = {"anomaly_score": float(score.anomaly_score), "episode": int(score.episode)}
            if score.alert:
                out.append(line(EPISODE_MEASUREMENT, {**base, "event": "open"}, episode, ns))  # type: ignore[arg-type]
            if score.ended:
                out.append(line(EPISODE_MEASUREMENT, {**base, "event": "end", "reason": score.ended}, episode,
                                ns))  # type: ignore[arg-type]
        return out

    def batch(self, points: Iterable[tuple[Event, Score]]) -> list[str]:
        """All lines of a run of scored points, in order."""
        lines: list[str] = []
        for event, score in points:
            lines.extend(self.lines(event, score))
        return lines


def point_lines(event: Event, score: Score, *, detectors: bool = True) -> Iterator[str]:
    """The lines of one scored point (see the module's docstring)."""
    return iter(LineEncoder(detectors=detectors).lines(event, score))


def batch_lines(points: Iterable[tuple[Event, Score]], *, detectors: bool = True) -> list[str]:
    """All lines of a run of scored points, in order."""
    return LineEncoder(detectors=detectors).batch(points)
