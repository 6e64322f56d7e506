"""One JSON POST over aiohttp, with the receiver's answer mapped to delivery errors.

URLs may carry secrets (Slack webhook paths, tokens): they never appear in
error messages or logs; only the sink's label does.

>>> classify_status(202, {}, b"", what="pagerduty") is None
True
>>> classify_status(429, {"Retry-After": "7"}, b"", what="slack").retry_after_s
7.0
>>> type(classify_status(503, {}, b"down", what="x")).__name__
'RetryableDeliveryError'
>>> str(classify_status(400, {}, b"invalid_blocks", what="slack"))
'slack answered 400: invalid_blocks'
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from aiops.alerting.sinks.base import RetryAfter
from aiops.detectors.core.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError

DEFAULT_RETRY_AFTER_S = 1.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    >>> parse_retry_after("12"), parse_retry_after(None), parse_retry_after("soon")
    (12.0, 1.0, 1.0)
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0)
    60.0
    """
    if not value:
        return DEFAULT_RETRY_AFTER_S
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return DEFAULT_RETRY_AFTER_S
    return max(0.0, when - (time.time() if now is None else now))


def encode_json(payload: Any, *, what: str) -> bytes:
    """Strict JSON bytes; a payload that cannot be encoded (NaN, odd types) is a permanent error.

    >>> encode_json({"a": 1}, what="x")
    b'{"a": 1}'
    >>> encode_json({"score": float("nan")}, what="slack")
    Traceback (most recent call last):
    ...
    aiops.detectors.core.errors.PermanentDeliveryError: slack: payload is not valid JSON (Out of range float values...)
    """
    try:
        return json.dumps(payload, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise PermanentDeliveryError(f"{what}: payload is not valid JSON ({exc})") from None


def classify_status(status: int, headers: Mapping[str, str], body: bytes, *, what: str) -> DeliveryError | None:
    """``None`` for 2xx, else the delivery error the answer means."""
    if 200 <= status < 300:
        return None
    detail = body[:300].decode("utf-8", "replace").strip()
    message = f"{what} answered {status}: {detail}" if detail else f"{what} answered {status}"
    if status == 429:
        return RetryAfter(message, retry_after_s=parse_retry_after(headers.get("Retry-After")))
    if status == 408 or status >= 500:
        return RetryableDeliveryError(message)
    return PermanentDeliveryError(message)


class JsonPoster:
    """A lazily opened aiohttp session that POSTs bytes and raises delivery errors."""

    def __init__(self, *, what: str, timeout_s: float) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """POST ``body``; return (status, response body) on 2xx, raise a DeliveryError otherwise."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        all_headers: dict[str, Any] = {"Content-Type": "application/json", **(headers or {})}
        try:
            async with self._session.post(url, data=body, headers=all_headers) as resp:
                answer = await resp.read()
                error = classify_status(resp.status, resp.headers, answer, what=self.what)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"{self.what}: no answer within {self.timeout_s:g}s") from exc
        except aiohttp.InvalidURL:
            raise PermanentDeliveryError(f"{self.what}: invalid URL") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryableDeliveryError(f"{self.what}: {type(exc).__name__}") from None
        if error is not None:
            raise error
        return resp.status, answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
