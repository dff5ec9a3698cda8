"""HTTP plumbing shared by every client call: settings, error mapping and the retry decisions.

**The money rule, stated once** (:func:`should_retry`, with the wait in :func:`retry_delay`):
retries are split by whether the server may have acted on the request. API requests and result
downloads both ask these two functions; no call keeps a retry rule of its own.

- Status queries and downloads are safe to repeat: 429, 5xx, answers that are not the API's
  JSON, answers cut off mid-body and transport errors are retried with capped, jittered
  exponential backoff that honours ``Retry-After``. Other 4xx answers are not: the next try
  gets the same answer.
- The billed submit is retried only on 429 and on connection errors raised before the request
  was sent (connect failures, pool timeouts). After a 5xx, a read timeout, a dropped connection
  or an unreadable answer the task may exist and be billed, and FoxAPI has no idempotency key,
  so we raise :class:`SubmitUncertainError` instead. openai-python and fal-client re-send a POST
  after a timeout (double billing here); replicate-python's retry transport leaves POST out,
  which is the policy we follow.

**The key goes only to the API's own origin** (:func:`same_origin`): scheme, host and port of
the base URL, never over a weaker scheme, never after a redirect.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

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
from .._secrets import key_problem, register_secret
from .._version import __version__
from ._answers import MAX_ANSWER_BYTES, decode

if TYPE_CHECKING:
    # httpx (about half of the client's import time) is imported when a client is built, or an
    # answer read, not when the package is: `foxkling --help` and type hints do not pay for it.
    import httpx

__all__ = [
    "DEFAULT_BASE_URL",
    "EMULATOR_KEY",
    "USER_AGENT",
    "Answer",
    "configured_base_url",
    "default_timeout",
    "RetryPolicy",
    "error_from_answer",
    "key_configured",
    "not_sent_errors",
    "parse_retry_after",
    "read_answer",
    "resolve_settings",
    "retry_delay",
    "same_origin",
    "should_retry",
    "task_path",
    "transport_errors",
    "wants_emulator",
    "web_scheme",
]

DEFAULT_BASE_URL = "https://api.foxapi.cc"
#: The key every built-in emulator accepts: public, so it is not scrubbed from text.
EMULATOR_KEY = "sk-emulator"
#: An explicit User-Agent: the gateway's firewall answers "error code: 1010" to default library agents.
USER_AGENT = f"foxkling-widgets/{__version__} (+python-httpx)"
KEY_ENV = "FOXAPI_API_KEY"
BASE_URL_ENV = "FOXAPI_BASE_URL"
#: Seconds to wait for a connection, and for each read of an answer (see :func:`default_timeout`).
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 30.0
#: The longest wait a server's Retry-After may ask for before we stop believing it.
MAX_RETRY_AFTER = 120.0


def default_timeout() -> httpx.Timeout:
    """The client's timeouts when none are given: :data:`CONNECT_TIMEOUT`, then :data:`READ_TIMEOUT`."""
    import httpx

    return httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)


@functools.cache
def transport_errors() -> tuple[type[Exception], ...]:
    """Everything a request can fail with short of an answer.

    Transport failures, a body that does not decode as its Content-Encoding says, a URL httpx
    refuses (a hostile Location), OS errors. A function, not a constant, so that httpx is
    imported when a request is made rather than with the package.
    """
    import httpx

    return (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, OSError)


@functools.cache
def not_sent_errors() -> tuple[type[Exception], ...]:
    """Exceptions raised before any byte of the request left the machine: safe to retry even a POST."""
    import httpx

    return (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def key_configured() -> bool:
    """Whether ``FOXAPI_API_KEY`` holds a key (the one place that decides "live or not" by default)."""
    return bool(os.environ.get(KEY_ENV, "").strip())


def wants_emulator(emulator: bool | None) -> bool:
    """The default choice of the widget and ``%%kling``: the emulator when forced, or when no key is configured."""
    return bool(emulator) or (emulator is None and not key_configured())


def configured_base_url(base_url: str | None) -> str:
    """The base URL a client is asked for, not yet checked: ``base_url``, else ``FOXAPI_BASE_URL``, else the default."""
    return (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")


def resolve_settings(api_key: str | None, base_url: str | None) -> tuple[str | None, str]:
    """The key and base URL: explicit arguments win over ``FOXAPI_API_KEY`` / ``FOXAPI_BASE_URL``.

    Raises :class:`InvalidRequestError` (naming neither the key nor any password) for a key that
    could never be sent as a header, and for a base URL that is not http(s) or carries a user
    name or password (httpx would send those as Basic auth instead of the key). The key is
    registered for scrubbing (:mod:`.._secrets`) before anything can echo it.
    """
    key = api_key if api_key is not None else os.environ.get(KEY_ENV)
    key = key.strip() if key else None
    if key:
        problem = key_problem(key)
        if problem is not None:
            raise InvalidRequestError(problem, field="api_key", hint="Nothing was sent or recorded.")
        if key != EMULATOR_KEY:
            register_secret(key)
    url = configured_base_url(base_url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidRequestError("The base URL (FOXAPI_BASE_URL) is not a valid URL.", field="base_url") from None
    if parts.username is not None or parts.password is not None:
        # Never repeat the URL: it holds a password.
        raise InvalidRequestError(
            "The base URL (FOXAPI_BASE_URL) contains a user name or password. Remove the 'user:pass@' part: "
            "FoxAPI authenticates with the API key only.",
            field="base_url",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(
            "The base URL must start with https:// (or http:// for a local emulator), "
            f"not {parts.scheme or 'nothing'}.",
            field="base_url",
        )
    return key or None, url


def web_scheme(url: str) -> str | None:
    """``"http"`` or ``"https"`` when ``url`` is a well-formed URL of either, else ``None`` (never raises)."""
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # e.g. "http://[x/": a malformed IPv6 host
        return None
    return scheme if scheme in ("http", "https") else None


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "", "", -1
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port if port is not None else default


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` has exactly the base URL's scheme, host and port (where the key may go)."""
    origin = _origin(url)
    return origin == _origin(base_url) and origin[0] in ("http", "https")


def task_path(task_id: str) -> str:
    """``/v1/tasks/{id}`` with the id as exactly one path segment, whatever characters it holds.

    Ids come from the server: ``/``, ``?``, ``#``, ``%`` and control characters are
    percent-encoded, and ``.``/``..`` (which URL normalisation would resolve) are encoded too.
    """
    segment = quote(task_id, safe="")
    if set(task_id) <= {"."}:
        segment = task_id.replace(".", "%2E")
    return f"/v1/tasks/{segment}"


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
        if retry_after is not None and math.isfinite(retry_after):
            return min(self.cap, max(0.0, retry_after))
        ceiling = min(self.cap, self.base * 2 ** (max(1, attempt) - 1))
        # "Full jitter" spreads retries of many clients apart (AWS architecture blog's analysis).
        return random.uniform(ceiling / 2, ceiling)


def should_retry(
    *,
    billed: bool,
    status: int | None = None,
    error: BaseException | None = None,
    cut: bool = False,
    named: bool = False,
) -> bool:
    """The money rule: may a request that ended this way be sent again?

    Exactly one way of ending is described: ``error``, a transport failure (no answer);
    ``cut``, an answer whose body stopped early (the connection dropped, or it stopped decoding);
    or ``status``, an answer's HTTP status, where ``status=200`` stands for an answer that was
    not the API's JSON. ``named``: the answer named a task.

    A billed submit may be re-sent only when the server cannot have acted on it: nothing left the
    machine, or it answered 429 (refused before doing anything, per the contract) without naming
    a task (a 429 that names one did create it, whatever the contract says). Everything else may
    be repeated after a transport failure, a cut-off answer, a 429, a 5xx or an unusable 2xx; a
    3xx or a 4xx (other than 429) is the same answer the next time.
    """
    if billed and named:
        return False
    if error is not None:
        return isinstance(error, not_sent_errors()) or not billed
    if cut:
        return not billed  # a billed answer cut off may hold the paid task's id: the caller keeps it
    if status == 429:
        return True
    if status is not None and (status >= 500 or status < 300):
        return not billed
    return False


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    billed: bool,
    status: int | None = None,
    error: BaseException | None = None,
    cut: bool = False,
    named: bool = False,
    retry_after: float | None = None,
) -> float | None:
    """Seconds to wait before sending again after try number ``attempt`` (from 1), or ``None``: do not.

    ``None`` when :func:`should_retry` says no (the money rule; the arguments are its own) or
    when ``policy.attempts`` are spent; otherwise ``policy``'s backoff, honouring the server's
    ``retry_after`` (seconds, from :func:`parse_retry_after`). API requests and result downloads
    both decide here, so no call has a retry loop with rules of its own.
    """
    if attempt >= policy.attempts:
        return None
    if not should_retry(billed=billed, status=status, error=error, cut=cut, named=named):
        return None
    return policy.backoff(attempt, retry_after)


def parse_retry_after(value: object) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or HTTP date), capped; ``None`` when absent or unreadable.

    Never raises: junk (``soon``, ``60s``), negative, NaN, huge or unparseable dates all give
    either a number in ``[0, MAX_RETRY_AFTER]`` or ``None`` (back off as usual).
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
            seconds = parsed.timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read up to :data:`MAX_ANSWER_BYTES` (``truncated`` when it was longer).

    ``cut`` names why the body ended early (the connection dropped, or it stopped decoding):
    ``data`` then holds what arrived, which may still carry a paid task's id.
    """

    status: int
    headers: httpx.Headers
    data: bytes
    truncated: bool = False
    cut: str | None = None


async def read_answer(response: httpx.Response, limit: int = MAX_ANSWER_BYTES) -> Answer:
    """Read an answer's (decoded) body, at most ``limit`` bytes: a server cannot make us hold more."""
    data = bytearray()
    truncated = False
    cut = None
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > limit:
                truncated = True
                del data[limit:]
                break
    except transport_errors() as error:
        # The status line arrived, then the body stopped (dropped, or not decoding as its
        # Content-Encoding says). The status still decides, and what arrived is kept: a billed
        # submit's answer cut off after its id still names the paid task.
        cut = type(error).__name__
    return Answer(response.status_code, response.headers, bytes(data), truncated, cut)


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in ("x-request-id", "request-id", "x-oneapi-request-id", "cf-ray"):
        value = headers.get(name)
        if value:
            return value[:200]
    return None


def _short(value: object, limit: int = 2000) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:limit]
    return text[:limit]


def error_from_answer(answer: Answer) -> FoxAPIError:
    """Map an error answer to the named exception, with status, type, code, message and request id."""
    status = answer.status
    decoded = decode(answer.data, truncated=answer.truncated)
    body = decoded.body
    text = answer.data[:4000].decode("utf-8", errors="replace")
    request_id = _request_id(answer.headers)
    retry_after = parse_retry_after(answer.headers.get("retry-after"))
    common: dict[str, Any] = {"status": status, "request_id": request_id}
    if body is None:
        snippet = " ".join(text.split())[:200]
        if status == 403 and "error code: 1010" in text:
            return BlockedClientError("Blocked by the API's firewall (error code: 1010).", code="1010", **common)
        if status == 429:
            return RateLimitError("Too many requests.", retry_after=retry_after, **common)
        if status >= 500:
            return ServerError(f"The server answered {status} with a non-API page: {snippet!r}", **common)
        return ProtocolError(f"HTTP {status} with a body that is not FoxAPI JSON: {snippet!r}", **common)
    error = body.get("error")
    error = error if isinstance(error, Mapping) else {"message": error or body.get("message") or text[:200]}
    message = _short(error.get("message")) or f"HTTP {status}"
    type_ = _short(error.get("type"), 200)
    code = _short(error.get("code"), 200)
    fields = {**common, "type": type_, "code": code, "body": body}
    if status in (400, 422):
        hint = None
        if code == "model_not_found":
            hint = "The model name is not available on this account or host; check FOXAPI_BASE_URL."
        elif code in ("unsupported_advanced_options", "no_compatible_channel"):
            hint = "The provider cannot serve this combination of options right now; try without audio/voices or 4k."
        param = _short(error.get("param"), 200)
        return InvalidRequestError(message, field=param, hint=hint, **fields)
    if status == 401:
        return AuthenticationError(message, **fields)
    if status == 402:
        return InsufficientCreditsError(message, **fields)
    if status == 404:
        return NotFoundError(message, **fields)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **fields)
    if status >= 500:
        return ServerError(message, **fields)
    return FoxAPIError(message, **fields)
