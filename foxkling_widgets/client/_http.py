"""HTTP plumbing shared by every client call: settings, error mapping and the retry policy.

Retries are split by whether the server may have acted on the request:

- Status queries and downloads are safe to repeat: 429, 5xx and transport errors are retried with
  capped, jittered exponential backoff that honours ``Retry-After``.
- The billed submit is retried only on 429 and on connection errors raised before the request
  was sent (connect failures, pool timeouts). After a 5xx, a read timeout or a dropped connection,
  the task may exist and be billed, and FoxAPI has no idempotency key, so we raise
  :class:`SubmitUncertainError` instead. openai-python and fal-client re-send a POST after a
  timeout (double billing here); replicate-python's retry transport leaves POST out, which is the
  policy we follow.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .._exceptions import (
    AuthenticationError,
    BlockedClientError,
    FoxAPIError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from .._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "RetryPolicy",
    "error_from_response",
    "parse_retry_after",
    "resolve_settings",
]

DEFAULT_BASE_URL = "https://api.foxapi.cc"
#: An explicit User-Agent: the gateway's firewall answers "error code: 1010" to default library agents.
USER_AGENT = f"foxkling-widgets/{__version__} (+python-httpx)"
KEY_ENV = "FOXAPI_API_KEY"
BASE_URL_ENV = "FOXAPI_BASE_URL"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

#: Exceptions raised before any byte of the request left the machine: safe to retry even a POST.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def resolve_settings(api_key: str | None, base_url: str | None) -> tuple[str | None, str]:
    """The key and base URL: explicit arguments win over ``FOXAPI_API_KEY`` / ``FOXAPI_BASE_URL``."""
    key = api_key if api_key is not None else os.environ.get(KEY_ENV)
    key = key.strip() if key else None
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    return key or None, url


@dataclass(frozen=True)
class RetryPolicy:
    """Capped, jittered exponential backoff.

    Attributes:
        attempts: total tries of a safe request (the first one included).
        base: the first backoff in seconds; each further one doubles.
        cap: the longest backoff, and the longest ``Retry-After`` we honour.
    """

    attempts: int = 4
    base: float = 0.5
    cap: float = 20.0

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(self.cap, max(0.0, retry_after))
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        # "Full jitter" spreads retries of many clients apart (AWS architecture blog's analysis).
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP date); ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in ("x-request-id", "request-id", "x-oneapi-request-id", "cf-ray"):
        if headers.get(name):
            return headers[name]
    return None


def _body(response: httpx.Response) -> tuple[dict[str, Any] | None, str]:
    text = response.text
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, text
    return (parsed if isinstance(parsed, dict) else None), text


def error_from_response(response: httpx.Response) -> FoxAPIError:
    """Map an error response to the named exception, with status, type, code, message and request id."""
    status = response.status_code
    body, text = _body(response)
    request_id = _request_id(response.headers)
    common: dict[str, Any] = {"status": status, "request_id": request_id}
    if body is None:
        snippet = " ".join(text.split())[:200]
        if status == 403 and "error code: 1010" in text:
            return BlockedClientError("Blocked by the API's firewall (error code: 1010).", code="1010", **common)
        if status == 429:
            return RateLimitError(
                "Too many requests.", retry_after=parse_retry_after(response.headers.get("retry-after")), **common
            )
        if status >= 500:
            return ServerError(f"The server answered {status} with a non-API page: {snippet!r}", **common)
        return ProtocolError(f"HTTP {status} with a body that is not FoxAPI JSON: {snippet!r}", **common)
    error = body.get("error")
    error = error if isinstance(error, Mapping) else {"message": str(error or body.get("message") or text[:200])}
    message = str(error.get("message") or f"HTTP {status}")
    type_ = str(error["type"]) if error.get("type") else None
    code = str(error["code"]) if error.get("code") is not None else None
    fields = {**common, "type": type_, "code": code, "body": body}
    if status in (400, 422):
        hint = None
        if code == "model_not_found":
            hint = "The model name is not available on this account or host; check FOXAPI_BASE_URL."
        elif code in ("unsupported_advanced_options", "no_compatible_channel"):
            hint = "The provider cannot serve this combination of options right now; try without audio/voices or 4k."
        param = error.get("param")
        return InvalidRequestError(message, field=str(param) if param else None, hint=hint, **fields)
    if status == 401:
        return AuthenticationError(message, **fields)
    if status == 402:
        return InsufficientCreditsError(message, **fields)
    if status == 404:
        return NotFoundError(message, **fields)
    if status == 429:
        return RateLimitError(message, retry_after=parse_retry_after(response.headers.get("retry-after")), **fields)
    if status >= 500:
        return ServerError(message, **fields)
    return FoxAPIError(message, **fields)
