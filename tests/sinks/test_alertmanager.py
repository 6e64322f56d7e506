"""The Alertmanager sink against a real Prometheus Alertmanager."""

from __future__ import annotations

import json
import urllib.request

import pytest

from aiops.alerting.sinks.alertmanager import AlertmanagerSink, AlertmanagerSinkConfig
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError

pytestmark = pytest.mark.integration


def _alerts(url: str, **filters: str) -> list[dict]:
    query = "&".join(f"filter={urllib.request.quote(f'{k}={v!r}'.replace(chr(39), chr(34)))}"
                     for k, v in filters.items())
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{query}", timeout=5) as resp:
        return json.load(resp)


class TestAlertmanagerSink:
    async def test_firing_alert_is_stored_with_labels_and_annotations(self, alertmanager, new_alert,
                                                                      new_notification):
        """A firing alert appears in GET /api/v2/alerts, active, with our labels and annotations."""
        sink = AlertmanagerSink(AlertmanagerSinkConfig(url=alertmanager.url, generator_url="http://aiops/ui"))
        alert = new_alert(1, case="firing")
        try:
            await sink.send(new_notification(1, alerts=[alert]))
        finally:
            await sink.close()
        [stored] = _alerts(alertmanager.url, case="firing")
        assert stored["labels"] == {**alert.labels, "severity": "error"}
        assert stored["annotations"]["summary"] == "cpu.user high on web-1"
        assert stored["annotations"]["score"] == "0.9700"
        assert stored["status"]["state"] == "active"
        assert stored["generatorURL"] == "http://aiops/ui"
        assert stored["startsAt"].startswith("2023-11-14T22:13:21")

    async def test_resolved_alert_is_sent_with_ends_at(self, alertmanager, new_alert, new_notification):
        """Sending the resolved state sets endsAt, and Alertmanager stops listing it as active."""
        sink = AlertmanagerSink(AlertmanagerSinkConfig(url=alertmanager.url))
        firing = new_alert(2, case="resolve")
        resolved = new_alert(2, status="resolved", case="resolve")
        try:
            await sink.send(new_notification(2, alerts=[firing]))
            assert len(_alerts(alertmanager.url, case="resolve")) == 1
            await sink.send(new_notification(2, alerts=[resolved]))
        finally:
            await sink.close()
        with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts?active=true&filter=case%3D%22resolve%22",
                                    timeout=5) as resp:
            assert json.load(resp) == []

    async def test_invalid_alert_is_a_permanent_error(self, alertmanager, new_alert, new_notification):
        """Alertmanager rejects an alert that ends before it starts (400): nothing to retry."""
        alert = new_alert(3, status="resolved")
        alert.ends_at = alert.starts_at - 60.0
        sink = AlertmanagerSink(AlertmanagerSinkConfig(url=alertmanager.url))
        try:
            with pytest.raises(PermanentDeliveryError, match="400"):
                await sink.send(new_notification(3, alerts=[alert]))
        finally:
            await sink.close()

    async def test_unreachable_alertmanager_is_retryable(self, unused_port, new_notification):
        """A refused connection is worth a retry."""
        sink = AlertmanagerSink(AlertmanagerSinkConfig(url=f"http://127.0.0.1:{unused_port}", timeout_s=2))
        try:
            with pytest.raises(RetryableDeliveryError):
                await sink.send(new_notification(4))
        finally:
            await sink.close()
