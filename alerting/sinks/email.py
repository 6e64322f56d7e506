"""E-mail over SMTP (smtplib in a worker thread): plain text plus an HTML alternative.

STARTTLS and login are optional. Refused senders/recipients and 5xx answers
are permanent; 4xx answers, refused connections and timeouts are retryable.

>>> from aiops.alerting.alert import Alert, Notification
>>> a = Alert.firing(labels={"alertname": "A"}, annotations={"summary": "cpu <high>"},
...                  starts_at=0.0, severity="error", score=0.9)
>>> cfg = EmailSinkConfig(host="127.0.0.1", from_addr="aiops@example.org", to_addrs=["sre@example.org"])
>>> msg = email_message(Notification("sre", "g", {"alertname": "A"}, [a]), cfg)
>>> msg["Subject"], msg.get_content_type(), "cpu &lt;high&gt;" in msg.get_body(("html",)).get_content()
('[FIRING:1] A', 'multipart/alternative', True)
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar, Literal

import structlog
from pydantic import Field, SecretStr

from aiops.alerting.alert import Notification
from aiops.alerting.sinks.base import SinkConfig
from aiops.alerting.sinks.render import alert_line, title
from aiops.detectors.core.errors import PermanentDeliveryError, RetryableDeliveryError

log = structlog.get_logger(__name__)

DEDUP_HEADER = "X-Aiops-Dedup-Key"


class EmailSinkConfig(SinkConfig):
    type: Literal["email"] = Field("email", description="selects the email sink (SMTP)")
    host: str = Field("127.0.0.1", description="SMTP server")
    port: int = Field(25, ge=1, le=65535, description="SMTP port")
    starttls: bool = Field(False, description="upgrade the connection with STARTTLS")
    tls_ca_file: str | None = Field(None, description="CA bundle to verify the server; default: system CAs")
    username: str | None = Field(None, description="SMTP login (null: none)")
    password: SecretStr | None = Field(None, description="SMTP password; write ${NAME}")
    from_addr: str = Field("aiops@localhost", description="sender address")
    to_addrs: list[str] = Field(default_factory=list, min_length=1, description="recipient addresses")


def email_message(notification: Notification, config: EmailSinkConfig) -> EmailMessage:
    """The message: subject = title, text body, HTML alternative, dedup key header."""
    msg = EmailMessage()
    msg["Subject"] = title(notification)
    msg["From"] = config.from_addr
    msg["To"] = ", ".join(config.to_addrs)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="aiops")
    msg[DEDUP_HEADER] = notification.dedup_key
    lines = [title(notification), ""] + [alert_line(a) for a in notification.alerts]
    lines += ["", f"receiver: {notification.receiver}", f"group: {notification.group_key}"]
    msg.set_content("\n".join(lines) + "\n")
    rows = "".join(
        f"<tr><td>{html.escape(a.severity)}</td><td>{html.escape(a.status)}</td>"
        f"<td>{html.escape(a.annotations.get('summary', a.labels.get('alertname', '')))}</td>"
        f"<td>{a.score:.3f}</td></tr>" for a in notification.alerts)
    msg.add_alternative(
        f"<html><body><h2>{html.escape(title(notification))}</h2><table>"
        f"<tr><th>severity</th><th>status</th><th>summary</th><th>score</th></tr>{rows}</table>"
        f"<p>receiver {html.escape(notification.receiver)}, group {html.escape(notification.group_key)}</p>"
        f"</body></html>", subtype="html")
    return msg


class EmailSink:
    """Sends one message per notification to the configured recipients."""

    kind: ClassVar[str] = "email"
    config_model: ClassVar[type[SinkConfig]] = EmailSinkConfig

    def __init__(self, config: EmailSinkConfig) -> None:
        self.config = config

    def _send_blocking(self, msg: EmailMessage) -> None:
        cfg = self.config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=cfg.tls_ca_file))
            if cfg.username:
                smtp.login(cfg.username, cfg.password.get_secret_value() if cfg.password else "")
            refused = smtp.send_message(msg, from_addr=cfg.from_addr, to_addrs=cfg.to_addrs)
        if refused:
            log.warning("email.some_recipients_refused", sink=cfg.name or "email", refused=sorted(refused))

    async def send(self, notification: Notification) -> None:
        what = self.config.name or "email"
        try:
            await asyncio.to_thread(self._send_blocking, email_message(notification, self.config))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            error = RetryableDeliveryError if all(400 <= c < 500 for c in codes) else PermanentDeliveryError
            raise error(f"{what}: recipients refused ({sorted(codes)})") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"{what}: login refused ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            error = RetryableDeliveryError if 400 <= exc.smtp_code < 500 else PermanentDeliveryError
            raise error(f"{what}: server answered {exc.smtp_code}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"{what}: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableDeliveryError(f"{what}: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None
