"""Bearer tokens for tests of the alerting API: one per person, every scope."""

from __future__ import annotations

from aiops.alerting.auth import SCOPES, TokenBook, hash_token


def token_of(name: str) -> str:
    return f"test-token-of-{name}-0123456789"


def team(*names: str) -> TokenBook:
    """A token book where each name holds every scope."""
    return TokenBook.from_entries([(n, hash_token(token_of(n)), SCOPES) for n in names])


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(name)}"}


def config_tokens(*names: str) -> list[dict]:
    """The ``alerting.api.tokens`` entries for a worker's configuration (hashes only)."""
    return [{"name": n, "sha256": hash_token(token_of(n)), "scopes": list(SCOPES)} for n in names]
