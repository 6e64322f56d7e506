"""Generic webhook: an Alertmanager-webhook-compatible JSON body, signed with HMAC-SHA256.

Headers: ``X-Aiops-Timestamp`` (unix seconds), ``X-Aiops-Signature:
sha256=<hex>`` where the HMAC is over ``b"<timestamp>." + raw body`` (the
timestamp is signed, so a captured request cannot be replayed later with a
fresh one), and ``Idempotency-Key`` = the notification's dedup key.
Receivers check with ``verify_signature``.

>>> body, ts = b'{"a":1}', 1700000000
>>> sig = sign(b"s3cret", body, ts)
>>> verify_signature(b"s3cret", body, timestamp=str(ts), signature=sig, now=ts + 10)
True
>>> verify_signature(b"s3cret", body, timestamp=str(ts), signature=sig, now=ts + 3600)
False
>>> verify_signature(b"other", body, timestamp=str(ts), signature=sig, now=ts)
False
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from aiops.alerting.alert import Notification
from aiops.alerting.sinks.alertmanager import alertmanager_alert
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.http import JsonPoster, encode_json

SIGNATURE_HEADER = "X-Aiops-Signature"
TIMESTAMP_HEADER = "X-Aiops-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookSinkConfig(SinkConfig):
    type: Literal["webhook"] = Field("webhook",
            description="selects the signed webhook sink (Alertmanager webhook body)")
    url: SecretStr = Field(..., description="target URL (a secret: it may carry a token)")
    secret: SecretStr = Field(..., description="HMAC-SHA256 key shared with the receiver")
    external_url: str = Field("", description="link back to the product, sent as externalURL")


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: bytes, body: bytes, *, timestamp: str, signature: str,
                     tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """True when the signature matches and the timestamp is within ``tolerance_s`` of now."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature)


def webhook_body(notification: Notification, *, external_url: str = "") -> dict[str, Any]:
    """The body Alertmanager's webhook receiver sends (version "4")."""
    alerts = []
    for alert in notification.alerts:
        am = alertmanager_alert(alert, generator_url=external_url)
        am.setdefault("endsAt", "0001-01-01T00:00:00Z")
        am.setdefault("generatorURL", external_url)
        alerts.append({"status": alert.status, **am, "fingerprint": alert.fingerprint})
    common_labels = _common([a["labels"] for a in alerts])
    common_annotations = _common([a["annotations"] for a in alerts])
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": alerts,
    }


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


class WebhookSink:
    """Posts the signed body; the receiver can drop repeats by ``Idempotency-Key``."""

    kind: ClassVar[str] = "webhook"
    config_model: ClassVar[type[SinkConfig]] = WebhookSinkConfig

    def __init__(self, config: WebhookSinkConfig) -> None:
        self.config = config
        self._poster = JsonPoster(what=config.name or "webhook", timeout_s=config.timeout_s)

    async def send(self, notification: Notification) -> None:
        body = encode_json(webhook_body(notification, external_url=self.config.external_url), what=self._poster.what)
        ts = int(time.time())
        headers = {
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(self.config.secret.get_secret_value().encode(), body, ts),
            IDEMPOTENCY_HEADER: notification.dedup_key,
        }
        await self._poster.post(self.config.url.get_secret_value(), body, headers)

    async def close(self) -> None:
        await self._poster.close()
