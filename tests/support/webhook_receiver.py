"""A real webhook receiver on loopback that checks the signature of every notification, as a user's would."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiops.alerting.sinks.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


class SignedWebhookReceiver:
    """Keeps every verified notification with its Idempotency-Key (``deliveries``); counts the unverified."""

    def __init__(self, secret: str) -> None:
        self.deliveries: list[tuple[str | None, dict]] = []
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(secret.encode(), body, timestamp=self.headers[TIMESTAMP_HEADER],
                                      signature=self.headers[SIGNATURE_HEADER])
                if ok:
                    outer.deliveries.append((self.headers[IDEMPOTENCY_HEADER], json.loads(body)))
                else:
                    outer.bad_signatures += 1
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def received(self) -> list[dict]:
        """The verified notifications' bodies, in arrival order."""
        return [body for _, body in self.deliveries]

    def close(self) -> None:
        self.server.shutdown()
