"""The shapes that flow through the pipeline: events in, scores, anomalies out.

Every stage speaks these few dataclasses; they serialise to plain JSON dicts
so that any consumer of the Kafka topics can read them without this package.

>>> e = Event(source="metric", series_id="cpu|host=web-1", labels={"host": "web-1"},
...           time=1_700_000_000.0, features={"user": 12.5})
>>> Event.from_dict(e.to_dict()) == e
True
>>> series_id_for("cpu", {"service": "api", "host": "web-1"})
'cpu|host=web-1,service=api'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Source = Literal["metric", "log"]


def series_id_for(name: str, labels: dict[str, str]) -> str:
    """The canonical series id: a name, then the labels sorted by key.

    The id is the Kafka key of every event of the series, so all its points
    land on one partition and one worker.
    """
    tags = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return f"{name}|{tags}" if tags else name


@dataclass(slots=True)
class Event:
    """One normalised observation of one series at one time.

    ``features`` holds the numeric values (one for a univariate series, several
    for a multivariate one). Log events carry the message and, once templates
    are mined, the template id, text and extracted parameters. ``time`` and
    ``ingest_time`` are seconds since the epoch, UTC.
    """

    source: Source
    series_id: str
    labels: dict[str, str]
    time: float
    features: dict[str, float]
    message: str | None = None
    level: str | None = None
    template_id: str | None = None
    template: str | None = None
    params: list[str] | None = None
    ingest_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict without the unset optional fields (hand-written: this is the hot path)."""
        data: dict[str, Any] = {
            "source": self.source, "series_id": self.series_id, "labels": self.labels,
            "time": self.time, "features": self.features, "ingest_time": self.ingest_time,
        }
        for name in _OPTIONAL_EVENT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(**data)

    def dedup_key(self) -> str:
        """A key equal for exact duplicates (same series, time, values, message)."""
        payload = json.dumps(
            [self.series_id, self.time, sorted(self.features.items()), self.message],
            separators=(",", ":"),
        )
        return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()


_OPTIONAL_EVENT_FIELDS = ("message", "level", "template_id", "template", "params")


@dataclass(slots=True)
class Score:
    """What the scoring engine says about one event.

    ``anomaly_score`` in [0, 1) is how surprising the point is given the
    series' past (rises at an onset, decays as the model adapts; 0.5 is a
    1-in-100 point, 0.75 1 in a million), or where lasting evidence that no
    single point shows first reaches the bar that opens an episode, that
    evidence, halving a point after; ``is_anomaly`` says the series is
    inside an anomaly episode, ``alert`` that this point opened it (what pages
    a person) and ``episode`` its number within the series (0: none);
    ``ended`` says an episode ended here and why.
    ``score`` is the ensemble's calibrated score in [0, 1]; ``detectors`` maps
    each detector to its own calibrated score; ``contributions`` maps each
    feature to its share of the anomaly (summing to about 1); ``expected``
    maps each feature to the (low, high) range the model expected.
    ``learned`` says whether the point goes into the baselines: at once, or
    with ``detection.learn_delay`` some points later unless a flagged point
    comes first. A flagged point says False, though with
    ``detection.partial_learning`` the features it did not implicate are
    still learned from it.
    """

    series_id: str
    time: float
    score: float
    threshold: float
    is_anomaly: bool
    detectors: dict[str, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)
    expected: dict[str, tuple[float, float]] = field(default_factory=dict)
    learned: bool = True
    anomaly_score: float = 0.0
    alert: bool = False
    episode: int = 0
    ended: str = ""  # an episode ended at this point: "returned" (to baseline) or "accepted" (the new normal)


#: the surprise (decades, ``-log10 p``) at which ``anomaly_score`` is 0.5: ``anomaly_score = S / (S + SCORE_HALF)``
SCORE_HALF = 2.0


def surprise_decades(anomaly_score: float) -> float:
    """The surprise ``S = -log10 p`` behind an ``anomaly_score``: how many decades rarer than usual a point is.

    >>> surprise_decades(0.5), surprise_decades(0.8)
    (2.0, 8.000000000000002)
    """
    score = min(max(anomaly_score, 0.0), 1.0 - 1e-12)
    return SCORE_HALF * score / (1.0 - score)


def severity_for(score: float) -> str:
    """Map a calibrated score to a severity name.

    >>> [severity_for(s) for s in (0.9, 0.97, 0.999)]
    ['warning', 'error', 'critical']
    """
    if score >= 0.995:
        return "critical"
    if score >= 0.95:
        return "error"
    return "warning"


@dataclass(slots=True)
class Anomaly:
    """One anomalous event, explained: the record on the anomalies topic."""

    id: str
    source: Source
    series_id: str
    labels: dict[str, str]
    time: float
    values: dict[str, float]
    score: float
    threshold: float
    severity: str
    detectors: dict[str, float]
    contributions: dict[str, float]
    expected: dict[str, tuple[float, float]]
    message: str | None = None
    template: str | None = None
    kind: str = "point"
    reason: str = ""
    ingest_time: float = 0.0
    detected_time: float = 0.0
    surprise: float | None = None  # the point's anomaly_score (metric points; None for log findings)
    episode: int = 0  # the series' episode the point belongs to (metric points)

    @classmethod
    def from_scored(cls, event: Event, score: Score, *, detected_time: float) -> Anomaly:
        return cls(
            id=anomaly_id(event.series_id, event.time, "point"),
            source=event.source,
            series_id=event.series_id,
            labels=dict(event.labels),
            time=event.time,
            values=dict(event.features),
            score=score.score,
            threshold=score.threshold,
            severity=severity_for(score.score),
            detectors=dict(score.detectors),
            contributions=dict(score.contributions),
            expected=dict(score.expected),
            message=event.message,
            template=event.template,
            reason=explain(event, score),
            ingest_time=event.ingest_time,
            detected_time=detected_time,
            surprise=score.anomaly_score,
            episode=score.episode,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["expected"] = {k: list(v) for k, v in self.expected.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anomaly:
        data = dict(data)
        data["expected"] = {k: tuple(v) for k, v in data.get("expected", {}).items()}
        return cls(**data)


def anomaly_id(series_id: str, time: float, kind: str) -> str:
    """A stable id: the same anomaly replayed after a restart gets the same id."""
    raw = f"{kind}|{series_id}|{time:.6f}".encode()
    return hashlib.blake2b(raw, digest_size=10).hexdigest()


def explain(event: Event, score: Score) -> str:
    """One human sentence: the top feature, observed against expected, and who fired.

    >>> e = Event("metric", "cpu|host=a", {"host": "a"}, 0.0, {"user": 97.0})
    >>> s = Score("cpu|host=a", 0.0, 0.99, 0.9, True, detectors={"zscore": 0.99},
    ...           contributions={"user": 1.0}, expected={"user": (10.0, 30.0)})
    >>> explain(e, s)
    'user=97 outside expected 10..30 (zscore 0.99)'

    A top feature inside its expected range (a joint detector saw the
    combination, or a run of small errors added up) is not called outside it:

    >>> e = Event("metric", "cpu|host=a", {"host": "a"}, 0.0, {"user": 20.0})
    >>> explain(e, s)
    'user=20 within expected 10..30 (zscore 0.99)'
    """
    parts: list[str] = []
    if score.contributions:
        top = max(score.contributions, key=lambda k: score.contributions[k])
        observed = event.features.get(top)
        rng = score.expected.get(top)
        if observed is not None and rng is not None:
            where = "within" if rng[0] <= observed <= rng[1] else "outside"
            parts.append(f"{top}={observed:.4g} {where} expected {rng[0]:.4g}..{rng[1]:.4g}")
        elif observed is not None:
            parts.append(f"{top}={observed:.4g}")
    fired = sorted(
        (k for k, v in score.detectors.items() if v >= score.threshold),
        key=lambda k: -score.detectors[k],
    ) or sorted(score.detectors, key=lambda k: -score.detectors[k])[:1]
    if fired:
        parts.append("(" + ", ".join(f"{k} {score.detectors[k]:.2f}" for k in fired) + ")")
    return " ".join(parts)
