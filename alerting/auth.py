"""Who may call the alerting API: bearer tokens with scopes, kept only as hashes.

Scopes: ``read`` (alerts, silences, actions, kill switch state, /metrics),
``silence`` (create and expire silences), ``feedback`` (verdicts on alerts),
``approve`` (approve or deny remediation actions) and ``admin`` (the kill
switch, and every other scope). Tokens come from ``alerting.api.tokens`` in
the configuration (``token: ${ENV}`` or its ``sha256``) and from the
``AIOPS_API_TOKEN`` environment variable, or the file ``AIOPS_API_TOKEN_FILE``
names (an ``operator`` with every scope).
Only a SHA-256 of each token is kept; a presented token is hashed and compared
with every known hash in constant time.

Every route declares its scope when it is added (``add_route``); a route
without one is refused to everybody, so a new route cannot slip in
unauthenticated.

>>> book = TokenBook.from_entries([("ana", hash_token("t-ana-0123456789"), {"read", "silence"})])
>>> book.authenticate("Bearer t-ana-0123456789").name, book.authenticate("Bearer wrong"), book.authenticate(None)
('ana', None, None)
>>> book.authenticate("Bearer t-ana-0123456789").allows("silence"), book.authenticate("Bearer t-ana-0123456789").allows("approve")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aiops.detectors.core.errors import ConfigError

log = structlog.get_logger(__name__)

SCOPES = ("read", "silence", "feedback", "approve", "admin")
Scope = Literal["read", "silence", "feedback", "approve", "admin"]
#: No token needed (health probes).
PUBLIC = "public"
#: The URL itself carries a signed, expiring, single-use credential (feedback and approval links).
SIGNED_LINK = "signed-link"
TOKEN_ENV = "AIOPS_API_TOKEN"
TOKEN_FILE_ENV = "AIOPS_API_TOKEN_FILE"
OPERATOR = "operator"
MIN_TOKEN_CHARS = 16

ROUTE_SCOPES_KEY = web.AppKey("route_scopes", dict)
TOKENS_KEY = web.AppKey("api_tokens", object)


class ApiTokenConfig(BaseModel):
    """One bearer token: who it is, what it may do, and the token (or only its SHA-256)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$",
            description="who holds the token (recorded on every change it makes)")
    scopes: list[Scope] = Field(min_length=1,
            description="what it may do: read, silence, feedback, approve, admin (admin implies all)")
    token: SecretStr | None = Field(None, description="the token itself; write ${ENV_NAME}, never the value")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token instead")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"a token must have at least {MIN_TOKEN_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ApiTokenConfig:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token or sha256")
        return self

    def digest(self) -> str:
        return self.sha256 or hash_token(self.token.get_secret_value())  # type: ignore[union-attr]


class ApiConfig(BaseModel):
    """Access to the worker's HTTP API."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[ApiTokenConfig] = Field(default_factory=list, description="bearer tokens the API accepts")
    public_metrics: bool = Field(False, description="serve /metrics without a token (for a scraper on a trusted net)")

    @field_validator("tokens")
    @classmethod
    def _unique_names(cls, value: list[ApiTokenConfig]) -> list[ApiTokenConfig]:
        names = [t.name for t in value]
        if len(names) != len(set(names)):
            raise ValueError("token names must be unique")
        return value


def hash_token(token: str) -> str:
    """The hex SHA-256 kept for a token (tokens are random: a fast hash is enough).

    >>> hash_token("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def secret_file(path: str | os.PathLike[str]) -> str:
    """The secret kept in ``path``, made (random, readable by its owner only) when the file does not exist.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "token"
    >>> first = secret_file(p)
    >>> secret_file(p) == first, len(first) >= 40, oct(p.stat().st_mode & 0o777)
    (True, True, '0o600')
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as f:
            return f.read().strip()
    token = new_token()
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


@dataclass(frozen=True)
class Principal:
    """Who made a request, and what they may do."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


class TokenBook:
    """Known token hashes and their principals."""

    def __init__(self, entries: list[tuple[bytes, Principal]]) -> None:
        self._entries = entries

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, Iterable[str]]]) -> TokenBook:
        """From ``(name, hex sha256, scopes)`` triples."""
        return cls([(bytes.fromhex(digest), Principal(name, frozenset(scopes))) for name, digest, scopes in entries])

    @classmethod
    def from_config(cls, config: ApiConfig | None, environ: dict[str, str] | None = None) -> TokenBook:
        """The configured tokens, plus ``AIOPS_API_TOKEN`` as the ``operator`` with every scope."""
        entries = [(t.name, t.digest(), t.scopes) for t in (config.tokens if config else [])]
        env_token = env_api_token(environ)
        if env_token:
            if len(env_token) < MIN_TOKEN_CHARS:
                raise ConfigError(f"{TOKEN_ENV} must have at least {MIN_TOKEN_CHARS} characters")
            entries.append((OPERATOR, hash_token(env_token), SCOPES))
        return cls.from_entries(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, header: str | None) -> Principal | None:
        """The principal of an ``Authorization: Bearer`` header, or None."""
        if not header or not header.startswith("Bearer "):
            return None
        presented = hashlib.sha256(header[7:].strip().encode()).digest()
        found = None
        for digest, principal in self._entries:  # every entry is compared: the time says nothing
            if hmac.compare_digest(digest, presented):
                found = principal
        return found


def env_api_token(environ: dict[str, str] | None = None) -> str:
    """``AIOPS_API_TOKEN``, or the content of the file ``AIOPS_API_TOKEN_FILE`` names ("" when neither).

    >>> env_api_token({"AIOPS_API_TOKEN": "t"}), env_api_token({})
    ('t', '')
    """
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if not token and env.get(TOKEN_FILE_ENV):
        with open(env[TOKEN_FILE_ENV]) as f:
            token = f.read().strip()
    return token


def is_loopback(host: str) -> bool:
    """Whether the API would listen on loopback only.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, book: TokenBook) -> None:
    """Refuse to serve the API beyond loopback when nobody could be authenticated."""
    if not is_loopback(host) and len(book) == 0:
        raise ConfigError(f"worker.web_host is {host}, not loopback, and no API token is set: set {TOKEN_ENV} or "
                          "alerting.api.tokens, or listen on 127.0.0.1")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)


def add_route(app: web.Application, method: str, path: str, handler: Handler, scope: str) -> None:
    """Add a route with the scope a caller needs (``PUBLIC``, ``SIGNED_LINK`` or one of ``SCOPES``)."""
    if scope not in SCOPES and scope not in (PUBLIC, SIGNED_LINK):
        raise ValueError(f"unknown scope {scope!r}")
    app.setdefault(ROUTE_SCOPES_KEY, {})[(method.upper(), path)] = scope  # type: ignore[call-overload]
    app.router.add_route(method, path, handler)


def route_scope(request: web.Request) -> str | None:
    """The scope declared for the request's route (HEAD as GET); None when the route declared none."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app.get(ROUTE_SCOPES_KEY, {}).get((method, resource.canonical))


def principal_of(request: web.Request) -> Principal:
    """The authenticated caller (set by the middleware)."""
    return request[PRINCIPAL]


def _refuse(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="aiops"'} if status == 401 else None
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, 403 with the wrong scope (or on a route that declared none)."""
    if request.match_info.http_exception is not None:  # no such route or method: aiohttp answers
        return await handler(request)
    scope = route_scope(request)
    if scope in (PUBLIC, SIGNED_LINK):
        return await handler(request)
    book: TokenBook = request.app.get(TOKENS_KEY) or TokenBook([])  # type: ignore[assignment]
    principal = book.authenticate(request.headers.get("Authorization"))
    if principal is None:
        why = "a bearer token is required" if len(book) else f"no API token is configured (set {TOKEN_ENV})"
        return _refuse(401, why)
    if scope is None:
        log.error("api.route_without_scope", path=request.path, method=request.method)
        return _refuse(403, "this route declares no scope")
    if not principal.allows(scope):
        return _refuse(403, f"token {principal.name!r} lacks scope {scope!r}")
    request[PRINCIPAL] = principal
    response = await handler(request)
    if request.method not in ("GET", "HEAD"):
        log.info("api.audit", principal=principal.name, method=request.method, path=request.path,
                 status=response.status, scope=scope)
    return response


def who(request: web.Request, given: Any = None) -> str:
    """The name recorded for a change: the principal, with the name the caller gave when it differs.

    A shared token (``operator``) used by ``aiops silence --by ana`` is recorded as ``operator/ana``.
    """
    name = principal_of(request).name
    if isinstance(given, str) and given and given != name:
        return f"{name}/{given[:64]}"
    return name
