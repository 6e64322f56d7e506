"""The e-mail sink against a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import ssl
import subprocess
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from aiops.alerting.sinks.email import DEDUP_HEADER, EmailSink, EmailSinkConfig
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError


class Mailbox:
    """An aiosmtpd handler that keeps messages, refuses one address and defers another."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"


@pytest.fixture
def smtp(unused_port):
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=unused_port)
    controller.start()
    yield box, unused_port
    controller.stop()


def _config(port: int, *to: str) -> EmailSinkConfig:
    return EmailSinkConfig(host="127.0.0.1", port=port, from_addr="aiops@example.org", to_addrs=list(to),
                           timeout_s=5)


class TestEmailSink:
    async def test_message_has_headers_text_and_html(self, smtp, new_alert, new_notification):
        """The server receives one message with subject, dedup header, text and HTML parts."""
        box, port = smtp
        note = new_notification(1, alerts=[new_alert(1), new_alert(2, status="resolved")])
        await EmailSink(_config(port, "sre@example.org", "oncall@example.org")).send(note)
        [(sender, rcpts, raw)] = box.messages
        assert sender == "aiops@example.org" and rcpts == ["sre@example.org", "oncall@example.org"]
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert msg["Subject"] == "[FIRING:1] AnomalyDetected"
        assert msg[DEDUP_HEADER] == note.dedup_key
        assert msg["To"] == "sre@example.org, oncall@example.org"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "error cpu.user high on web-1 (score 0.970, since 2023-11-14T22:13:21Z)" in text
        assert "resolved 2023-11-14T22:15:22Z" in text
        assert "<td>cpu.user high on web-2</td>" in html

    async def test_refused_recipient_is_permanent(self, smtp, new_notification):
        """550 for the only recipient will never succeed."""
        box, port = smtp
        with pytest.raises(PermanentDeliveryError, match="recipients refused"):
            await EmailSink(_config(port, "nobody@example.org")).send(new_notification(2))
        assert box.messages == []

    async def test_deferred_recipient_is_retryable(self, smtp, new_notification):
        """451 (try again later) is retryable."""
        box, port = smtp
        with pytest.raises(RetryableDeliveryError):
            await EmailSink(_config(port, "busy@example.org")).send(new_notification(3))

    async def test_no_server_is_retryable(self, unused_port, new_notification):
        """A refused connection is retryable."""
        with pytest.raises(RetryableDeliveryError):
            await EmailSink(_config(unused_port, "sre@example.org")).send(new_notification(4))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl CLI)."""
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TestEmailStartTls:
    async def test_starttls_and_login(self, certificate, unused_port, new_notification):
        """With STARTTLS required and AUTH only over TLS, the sink upgrades, logs in and delivers."""
        cert, key = certificate
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        logins = []

        def authenticator(server, session, envelope, mechanism, auth_data):
            logins.append((auth_data.login, auth_data.password))
            return AuthResult(success=auth_data.password == b"SMTPSECRET", handled=False)

        box = Mailbox()
        controller = Controller(box, hostname="127.0.0.1", port=unused_port, tls_context=context,
                                require_starttls=True, authenticator=authenticator, auth_require_tls=True)
        controller.start()
        try:
            base = dict(host="127.0.0.1", port=unused_port, from_addr="aiops@example.org", to_addrs=["sre@example.org"],
                        starttls=True, tls_ca_file=str(cert), username="aiops", timeout_s=5)
            await EmailSink(EmailSinkConfig(**base, password="SMTPSECRET")).send(new_notification(5))
            with pytest.raises(PermanentDeliveryError, match="login refused"):
                await EmailSink(EmailSinkConfig(**base, password="wrong")).send(new_notification(6))
            with pytest.raises(PermanentDeliveryError):
                await EmailSink(EmailSinkConfig(**{**base, "starttls": False}, password="SMTPSECRET")).send(
                    new_notification(7))
        finally:
            controller.stop()
        assert logins[0] == (b"aiops", b"SMTPSECRET")
        assert len(box.messages) == 1
