"""SRE feedback on alerts: record it, sign links for it, and apply it.

A verdict (``false_positive`` or ``true_positive``) on an alert becomes a
``FeedbackRecord`` for the feedback topic. The worker turns each record into
``engine.feedback(series_id, time, verdict)`` calls (``apply_feedback``). A
false positive also suppresses identical repeats of that alert for a while,
then lowers its severity.

>>> signer = LinkSigner(b"k" * 32)
>>> token = signer.sign({"fp": "abc", "series_id": "cpu|host=a"}, expires_at=100)
>>> signer.verify(token, now=50)["fp"]
'abc'
>>> signer.verify(token + "x", now=50)  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
...
FeedbackError: bad feedback link signature
>>> rec = FeedbackRecord.new(fingerprint="abc", series_id="cpu|host=a", anomaly_ids=["i1"],
...                          anomaly_times=[10.0], verdict="false_positive", who="ana", when=60.0)
>>> feedback_calls(rec)
[('cpu|host=a', 10.0, 'false_positive')]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Protocol

import structlog

from aiops.alerting.config import FeedbackConfig
from aiops.detectors.core.errors import InputError

log = structlog.get_logger(__name__)

VERDICTS = ("false_positive", "true_positive")


class FeedbackError(InputError):
    """Feedback that cannot be accepted: unknown verdict or alert, bad or expired link."""


def check_verdict(verdict: Any) -> str:
    if verdict not in VERDICTS:
        raise FeedbackError(f"verdict must be one of {', '.join(VERDICTS)} (got {verdict!r})")
    return verdict


@dataclass(slots=True)
class FeedbackRecord:
    """One verdict on one alert: the JSON record on the feedback topic."""

    id: str
    fingerprint: str
    series_id: str
    anomaly_ids: list[str]
    anomaly_times: list[float]
    verdict: str
    who: str
    when: float
    comment: str = ""
    via: str = "api"
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, *, fingerprint: str, series_id: str, anomaly_ids: list[str], anomaly_times: list[float],
            verdict: str, who: str, when: float, comment: str = "", via: str = "api",
            labels: dict[str, str] | None = None) -> FeedbackRecord:
        if not who or not isinstance(who, str):
            raise FeedbackError("who is required")
        return cls(uuid.uuid4().hex[:16], fingerprint, series_id, list(anomaly_ids), list(anomaly_times),
                   check_verdict(verdict), who, float(when), str(comment or ""), via, dict(labels or {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedbackRecord:
        try:
            record = cls(**data)
        except TypeError as exc:
            raise FeedbackError(f"not a feedback record: {exc}") from None
        check_verdict(record.verdict)
        return record


class FeedbackTarget(Protocol):
    def feedback(self, series_id: str, time: float, verdict: str) -> None: ...


def feedback_calls(record: FeedbackRecord) -> list[tuple[str, float, str]]:
    """The ``(series_id, time, verdict)`` calls a record means for the scoring engine."""
    return [(record.series_id, float(t), record.verdict) for t in record.anomaly_times]


def apply_feedback(record: FeedbackRecord, engine: FeedbackTarget) -> int:
    """Call ``engine.feedback`` for each anomaly of the record; returns how many calls."""
    calls = feedback_calls(record)
    for series_id, time, verdict in calls:
        engine.feedback(series_id, time, verdict)
    return len(calls)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """HMAC-SHA256 signed, expiring tokens for feedback links."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise FeedbackError("feedback secret must be at least 16 bytes")
        self._secret = secret

    @classmethod
    def from_config(cls, config: FeedbackConfig) -> LinkSigner:
        if config.secret is None:
            log.warning("feedback.random_secret", why="no feedback.secret set; links break on restart")
            return cls(secrets.token_bytes(32))
        return cls(config.secret.get_secret_value().encode())

    def sign(self, payload: dict[str, Any], *, expires_at: float) -> str:
        body = _b64(json.dumps({**payload, "exp": expires_at}, separators=(",", ":")).encode())
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, token: str, *, now: float) -> dict[str, Any]:
        body, _, mac = token.partition(".")
        try:
            given = _unb64(mac)
        except ValueError:
            raise FeedbackError("bad feedback link signature") from None
        expected = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            raise FeedbackError("bad feedback link signature")
        payload = json.loads(_unb64(body))
        if now > payload.get("exp", 0):
            raise FeedbackError("feedback link has expired")
        return payload


class FeedbackBook:
    """Recorded verdicts: queued for the feedback topic and remembered for suppression.

    After a false positive on a fingerprint, identical repeats are dropped for
    ``suppress_repeat_s``, then its severity is lowered ``downgrade_steps``
    levels until ``downgrade_for_s`` has passed. A later true positive cancels
    both.
    """

    def __init__(self, config: FeedbackConfig | None = None) -> None:
        self.config = config or FeedbackConfig()
        self._false_positive_at: dict[str, float] = {}
        self._outbox: list[FeedbackRecord] = []
        self.records: list[FeedbackRecord] = []

    def record(self, record: FeedbackRecord) -> FeedbackRecord:
        """Remember a new verdict and queue it for the feedback topic."""
        self.remember(record)
        self._outbox.append(record)
        log.info("feedback.recorded", id=record.id, fingerprint=record.fingerprint,
                 verdict=record.verdict, who=record.who, via=record.via)
        return record

    def remember(self, record: FeedbackRecord) -> None:
        """Apply a verdict to suppression without queueing it (e.g. read back from the topic)."""
        self.records.append(record)
        del self.records[:-1000]
        if record.verdict == "false_positive":
            self._false_positive_at[record.fingerprint] = record.when
        else:
            self._false_positive_at.pop(record.fingerprint, None)

    def drain(self) -> list[dict[str, Any]]:
        """Records not yet handed to the feedback topic, as JSON dicts."""
        out, self._outbox = self._outbox, []
        return [r.to_dict() for r in out]

    def suppresses(self, fp: str, now: float) -> bool:
        at = self._false_positive_at.get(fp)
        return at is not None and now - at < self.config.suppress_repeat_s

    def downgrade_steps(self, fp: str, now: float) -> int:
        at = self._false_positive_at.get(fp)
        if at is None or now - at >= self.config.suppress_repeat_s + self.config.downgrade_for_s:
            return 0
        return self.config.downgrade_steps

    def export(self) -> dict[str, float]:
        return dict(self._false_positive_at)

    def import_(self, data: dict[str, float]) -> None:
        self._false_positive_at.update({k: float(v) for k, v in data.items()})

    def forget_older_than(self, now: float) -> None:
        horizon = self.config.suppress_repeat_s + self.config.downgrade_for_s
        for fp in [fp for fp, at in self._false_positive_at.items() if now - at >= horizon]:
            del self._false_positive_at[fp]

    def recent(self, limit: int = 100) -> Iterable[FeedbackRecord]:
        return self.records[-limit:]
