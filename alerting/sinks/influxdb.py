"""InfluxDB (v2 write API, influxdb-client): alerts and scores as line-protocol points.

An alert is a point of measurement ``aiops_alert``: tags alertname,
fingerprint, receiver, severity, status and the alert's labels; fields score,
firing (1/0) and summary. ``write_scores`` writes ``aiops_score`` points
(tag series, fields score, threshold, anomaly, one per detector).

>>> from aiops.alerting.alert import Alert
>>> a = Alert.firing(labels={"alertname": "A", "host": "web 1"}, annotations={"summary": "hi"},
...                  starts_at=1.0, severity="error", score=0.5)
>>> print(alert_point(a, receiver="sre").to_line_protocol().replace(",", "\\n"))
aiops_alert
alertname=A
fingerprint=...
host=web\\ 1
receiver=sre
severity=error
status=firing firing=1i
score=0.5
summary="hi" 1000000000
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from aiops.alerting.alert import Alert, Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.influx_lines import epoch_ns
from aiops.alerting.sinks.render import alert_summary
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError
from aiops.detectors.core.shapes import Score

ALERT_MEASUREMENT = "aiops_alert"
SCORE_MEASUREMENT = "aiops_score"


class InfluxdbSinkConfig(SinkConfig):
    type: Literal["influxdb"] = Field("influxdb",
            description="selects the InfluxDB 2 sink (one aiops_alert point per alert)")
    url: str = Field("http://127.0.0.1:8086", description="InfluxDB 2 URL")
    token: SecretStr = Field(SecretStr(""), description="API token (a secret)")
    org: str = Field("aiops", description="organisation")
    bucket: str = Field("aiops", description="bucket written to")


def _point(measurement: str) -> Any:
    from influxdb_client import Point

    return Point(measurement)


def alert_point(alert: Alert, *, receiver: str) -> Any:
    """One ``aiops_alert`` point at the alert's last update (or start) time, in ns."""
    from influxdb_client import WritePrecision

    p = _point(ALERT_MEASUREMENT)
    for key, value in sorted(alert.labels.items()):
        if key not in ("receiver", "severity", "status", "fingerprint") and value != "":
            p = p.tag(key, value)
    p = (p.tag("fingerprint", alert.fingerprint).tag("receiver", receiver).tag("severity", alert.severity)
         .tag("status", alert.status).field("score", float(alert.score))
         .field("firing", 1 if alert.status == "firing" else 0).field("summary", alert_summary(alert)))
    when = alert.updated_at or alert.starts_at
    return p.time(epoch_ns(when), WritePrecision.NS)


def score_point(score: Score) -> Any:
    """One ``aiops_score`` point for a scored event."""
    from influxdb_client import WritePrecision

    p = (_point(SCORE_MEASUREMENT).tag("series", score.series_id).field("score", float(score.score))
         .field("threshold", float(score.threshold)).field("anomaly", 1 if score.is_anomaly else 0))
    for name, value in sorted(score.detectors.items()):
        p = p.field(f"detector_{name}", float(value))
    return p.time(epoch_ns(score.time), WritePrecision.NS)


class InfluxdbSink:
    """Writes alert points for notifications, and score points on request."""

    kind: ClassVar[str] = "influxdb"
    config_model: ClassVar[type[SinkConfig]] = InfluxdbSinkConfig

    def __init__(self, config: InfluxdbSinkConfig) -> None:
        self.config = config
        self._client: Any = None

    def _write_api(self) -> Any:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        if self._client is None:
            self._client = InfluxDBClientAsync(url=self.config.url, token=self.config.token.get_secret_value(),
                                               org=self.config.org, timeout=int(self.config.timeout_s * 1000))
        return self._client.write_api()

    async def _write(self, points: list[Any]) -> None:
        from influxdb_client.rest import ApiException

        what = self.config.name or "influxdb"
        if not points:
            return
        try:
            await self._write_api().write(bucket=self.config.bucket, org=self.config.org, record=points)
        except ApiException as exc:
            status = exc.status or 0
            error = RetryableDeliveryError if status in (0, 408, 429) or status >= 500 else PermanentDeliveryError
            raise error(f"{what} answered {status}: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise RetryableDeliveryError(f"{what}: {type(exc).__name__}") from None
        except Exception as exc:  # aiohttp client errors, without importing aiohttp's hierarchy here
            if type(exc).__module__.startswith("aiohttp"):
                raise RetryableDeliveryError(f"{what}: {type(exc).__name__}") from None
            raise

    async def send(self, notification: Notification) -> None:
        await self._write([alert_point(a, receiver=notification.receiver) for a in notification.alerts])

    async def write_scores(self, scores: Iterable[Score]) -> None:
        """Write one ``aiops_score`` point per score (same errors as ``send``)."""
        await self._write([score_point(s) for s in scores])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
