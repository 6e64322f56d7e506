"""The console sink, the sink registry, and secrets kept out of logs, reprs and dumps."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from pydantic import TypeAdapter, ValidationError

from aiops.alerting.config import AlertingConfig
from aiops.alerting.delivery import Delivery
from aiops.alerting.policy import AlertPolicy, LinkSigner
from aiops.alerting.sinks.console import ConsoleSink, ConsoleSinkConfig
from aiops.alerting.sinks.registry import SINKS, SinkConfigByType, build_sink
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.shapes import Anomaly

SECRETS = {
    "slack": {"webhook_url": "https://hooks.example/services/T1/B1/SLACKSECRET"},
    "pagerduty": {"routing_key": "PDSECRETPDSECRETPDSECRETPDSECRET"},
    "webhook": {"url": "https://hook.example/x?token=HOOKTOKENSECRET", "secret": "HMACSECRET"},
    "email": {"to_addrs": ["sre@example.org"], "username": "u", "password": "SMTPSECRET"},
    "kafka": {"sasl_username": "u", "sasl_password": "KAFKASECRET"},
    "influxdb": {"token": "INFLUXSECRET"},
    "alertmanager": {"username": "u", "password": "AMSECRET"},
}
SECRET_WORDS = ["SLACKSECRET", "PDSECRET", "HOOKTOKENSECRET", "HMACSECRET", "SMTPSECRET", "KAFKASECRET",
                "INFLUXSECRET", "AMSECRET"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestConsoleSink:
    async def test_plain_lines_when_not_a_tty(self, new_alert, new_notification):
        """One title line and one line per alert, without escape codes."""
        out = io.StringIO()
        await ConsoleSink(ConsoleSinkConfig(), writer=out).send(
            new_notification(1, alerts=[new_alert(1), new_alert(2, status="resolved")]))
        lines = out.getvalue().splitlines()
        assert lines == ["sre [FIRING:1] AnomalyDetected",
                         "  error cpu.user high on web-1 (score 0.970, since 2023-11-14T22:13:21Z)",
                         "    episode began 2023-11-14T22:13:21Z",
                         "  error cpu.user high on web-2 (score 0.970, resolved 2023-11-14T22:15:22Z)",
                         "    episode began 2023-11-14T22:13:22Z, resolved 2023-11-14T22:15:22Z"]

    async def test_each_alert_of_the_policy_says_why_and_how_its_episode_ended(self):
        """An alert the real policy raised prints what was seen against what was expected, the detectors that
        fired and its score; once the episode ends, the resolved alert says when it began and why it ended."""
        config = AlertingConfig.model_validate({"route": {"group_wait_s": 0, "group_interval_s": 1}})
        policy = AlertPolicy(config, signer=LinkSigner(b"0" * 32))
        policy.ingest(Anomaly(id="a1", source="metric", series_id="cpu|host=web-1", labels={"host": "web-1"},
                              time=1_700_000_000.0, values={"user": 97.0}, score=0.97, threshold=0.9,
                              severity="error", detectors={"zscore": 0.97, "cusum": 0.93, "hst": 0.1},
                              contributions={"user": 1.0}, expected={"user": (10.0, 30.0)},
                              reason="user=97 outside expected 10..30 (zscore 0.97)"), now=1_700_000_001.0)
        out = io.StringIO()
        sink = ConsoleSink(ConsoleSinkConfig(), writer=out)
        for notification in policy.tick(1_700_000_002.0):
            await sink.send(notification)
        firing = out.getvalue().splitlines()
        assert firing[1].startswith("  error ") and "(score 0.970, since 2023-11-14T22:13:20Z)" in firing[1]
        assert firing[2:] == ["    why: user=97 (expected 10..30). user=97 outside expected 10..30 (zscore 0.97)",
                              "    detectors: zscore 0.97, cusum 0.93",
                              "    episode began 2023-11-14T22:13:20Z"]

        policy.end_episode("cpu|host=web-1", 1_700_000_030.0, "returned")
        out.seek(0), out.truncate()
        for t in range(3, 40):
            for notification in policy.tick(1_700_000_000.0 + t):
                await sink.send(notification)
        resolved = out.getvalue().splitlines()
        assert resolved[0].startswith("default [RESOLVED:1]"), resolved
        assert resolved[-1].startswith("    episode began 2023-11-14T22:13:20Z, resolved 2023-11-14T22:13:")
        assert resolved[-1].endswith(", ended: the series returned to its baseline")

    async def test_colour_on_a_tty(self, new_notification):
        """A tty gets ANSI colours."""
        out = _Tty()
        await ConsoleSink(ConsoleSinkConfig(), writer=out).send(new_notification(1))
        assert "\033[31m" in out.getvalue() and out.getvalue().count("\033[0m") == 2


class TestRegistry:
    async def test_every_kind_builds_from_a_dict(self):
        """Each registered kind has a <Kind>SinkConfig with a type discriminator and builds a sink."""
        assert SINKS.names() == sorted(["alertmanager", "console", "email", "influxdb", "kafka", "pagerduty",
                                        "slack", "webhook"])
        for kind in SINKS.names():
            sink = build_sink({"type": kind, **SECRETS.get(kind, {})})
            assert sink.kind == kind
            assert type(sink.config).__name__ == f"{kind.capitalize()}SinkConfig"
            assert hasattr(sink, "send")
            await sink.close()

    def test_type_picks_the_model(self):
        """The entry's type picks the model that validates it, and that model rejects unknown keys."""
        adapter = TypeAdapter(list[SinkConfigByType])
        configs = adapter.validate_python([{"type": "console"}, {"type": "slack", **SECRETS["slack"]}])
        assert [type(c).__name__ for c in configs] == ["ConsoleSinkConfig", "SlackSinkConfig"]
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            adapter.validate_python([{"type": "console", "colur": True}])

    def test_unknown_kind_is_a_config_error(self):
        with pytest.raises(ConfigError, match="unknown sink 'sms'"):
            build_sink({"type": "sms"})


class TestSecrets:
    def test_secrets_are_redacted_in_repr_and_dumps(self):
        """repr, str, model_dump and JSON dumps of every config hide the secret values."""
        adapter = TypeAdapter(SinkConfigByType)
        for kind, values in SECRETS.items():
            config = adapter.validate_python({"type": kind, **values})
            for text in (repr(config), str(config), json.dumps(config.model_dump(mode="json")),
                         config.model_dump_json()):
                assert not any(word in text for word in SECRET_WORDS), (kind, text)

    async def test_secrets_never_reach_the_logs(self, unused_port, new_notification):
        """Failed sends to secret URLs log and dead-letter without the secret."""
        dead: list[bytes] = []

        async def dead_letter(record: bytes) -> None:
            dead.append(record)

        sinks = [build_sink({"type": "slack", "timeout_s": 1,
                             "webhook_url": f"http://127.0.0.1:{unused_port}/services/SLACKSECRET"}),
                 build_sink({"type": "webhook", "timeout_s": 1, "secret": "HMACSECRET",
                             "url": f"http://127.0.0.1:{unused_port}/hook?token=HOOKTOKENSECRET"})]
        delivery = Delivery({"sre": sinks}, dead_letter=dead_letter, max_attempts=2, backoff_base_s=0.01)
        with structlog.testing.capture_logs() as logs:
            await delivery.submit(new_notification(1))
        await delivery.close()
        assert len(dead) == 2 and any(e["event"] == "delivery.retry" for e in logs)
        text = json.dumps(logs, default=str) + b"".join(dead).decode()
        assert not any(word in text for word in SECRET_WORDS)
