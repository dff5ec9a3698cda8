"""Every error foxkling-widgets raises, in one hierarchy.

::

    Exception
    └── FoxAPIError                     anything this package raises on purpose
        ├── InvalidRequestError (+ValueError)   bad input: caught before any request is sent,
        │   │                                   or a 400/422 from the provider
        │   └── MissingAPIKeyError              no key configured (says how to set one)
        ├── AuthenticationError         401: missing, bad or expired key
        ├── InsufficientCreditsError    402: balance too low
        ├── BlockedClientError          403 "error code: 1010" from the gateway's firewall
        ├── NotFoundError               404: unknown task id
        │   └── ResultExpiredError      the 24-hour result URL has expired (403/404/410 on download)
        ├── RateLimitError              429, after retries
        ├── ServerError                 5xx on a safe request, after retries
        ├── SubmitUncertainError        a billed submit whose outcome is unknown: never re-sent
        ├── JournalUnavailableError     the submit could not be recorded anywhere, so it was not sent
        ├── APIConnectionError          transport failure on a safe request, after retries
        ├── ProtocolError               the server answered something that is not the API
        ├── DownloadError               a video transfer failed or was cut off
        ├── TaskFailedError             the task itself ended in failure (``code`` says why)
        └── WaitTimeoutError (+TimeoutError)  ``wait`` gave up; the task keeps running

    KeyboardInterrupt
    └── GenerationInterrupted           Ctrl-C after a billed submit: says the task id and how to pick it up

Every error carries ``status``, ``type``, ``code``, the provider's ``message``, the
``request_id`` when the server sent one, ``task_id`` when a task exists, and a ``hint`` that
says what to do. None of them ever holds the API key: every field is scrubbed by the key's
value (:mod:`._secrets`) and of anything key-shaped (:func:`redact`) when the error is made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._secrets import scrub, scrub_data

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BlockedClientError",
    "DownloadError",
    "FoxAPIError",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "JournalUnavailableError",
    "MissingAPIKeyError",
    "NotFoundError",
    "Problem",
    "ProtocolError",
    "RateLimitError",
    "ResultExpiredError",
    "ServerError",
    "SubmitUncertainError",
    "TaskFailedError",
    "WaitTimeoutError",
    "GenerationInterrupted",
    "errors_only",
    "redact",
]

# Keys are scrubbed by value (see _secrets). These patterns are a second net for error text
# only, never for stored data: a key-shaped ``sk-...`` token, and a credential after "Bearer "
# (case-sensitive, token characters only, so "the ring bearer smiles" is left alone).
# The lookbehind keeps "task-unified-..." ids intact: their "sk-" is not a key's start.
_KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9])(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]+")
_BEARER_PATTERN = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")


def redact(text: str, *secrets: str | None) -> str:
    """Error text with every known key (by value, see :mod:`._secrets`) and anything key-shaped masked."""
    text = scrub(text, *secrets)
    text = _BEARER_PATTERN.sub(r"\1***", text)
    return _KEY_PATTERN.sub(r"\1***", text)


def _clean(value: str | None) -> str | None:
    return redact(value) if value is not None else None


@dataclass(frozen=True)
class Problem:
    """One validation finding: which field, what is wrong and how to fix it.

    ``level`` is ``"error"`` (the request cannot be sent) or ``"warning"`` (it can, but the
    user should know, e.g. the 4k price tier). ``field`` uses wire names with an index for
    list items: ``"prompt"``, ``"multi_prompt[1].duration"``, ``"voice_ids"``.
    """

    field: str
    message: str
    level: str = "error"

    def to_dict(self) -> dict[str, str]:
        """Plain-dict form, as sent to the widget and in emulator error bodies."""
        return {"field": self.field, "message": self.message, "level": self.level}


def errors_only(problems: Sequence[Problem]) -> list[Problem]:
    """The problems that block sending (``level == "error"``)."""
    return [p for p in problems if p.level == "error"]


class FoxAPIError(Exception):
    """Base class of every error raised by foxkling-widgets.

    Attributes:
        message: the provider's message, or ours when the error never reached the provider.
        status: HTTP status, or ``None`` when no response was received.
        type: the provider's error ``type`` (e.g. ``"rate_limit_error"``), if any.
        code: the provider's error ``code`` (an open string, e.g. ``"model_not_found"``).
        request_id: the server's request id header, if it sent one.
        hint: what the user can do about it.
        task_id: the provider's task id when the error happened after a task was created (it
            is in the journal: a paid task is never lost to a later failure).
    """

    default_hint = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        body: Any = None,
        task_id: str | None = None,
    ) -> None:
        # Every field may come from a server that echoes the key back: all are scrubbed.
        self.message = redact(message)
        self.status = status
        self.type = _clean(type)
        self.code = _clean(code)
        self.request_id = _clean(request_id)
        self.hint = redact(hint) if hint is not None else self.default_hint
        self.body = scrub_data(body)
        self.task_id = _clean(task_id)
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        details = [
            f"{name}={value}"
            for name, value in (
                ("status", self.status),
                ("code", self.code),
                ("type", self.type),
                ("request_id", self.request_id),
                ("task_id", self.task_id),
            )
            if value is not None
        ]
        if details:
            parts.append(f"({', '.join(details)})")
        if self.hint:
            parts.append(f"-- {self.hint}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for task cards and the journal."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "status": self.status,
            "type": self.type,
            "code": self.code,
            "request_id": self.request_id,
            "task_id": self.task_id,
            "hint": self.hint,
        }


class InvalidRequestError(FoxAPIError, ValueError):
    """The request is not valid. Raised before sending (``status is None``) or on 400/422.

    ``problems`` lists every finding (field, message); ``field`` is the first one's field.
    """

    default_hint = "Fix the field named above and try again; nothing was sent or billed."

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[Problem] = (),
        field: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.problems = list(problems)
        self.field = _clean(field) if field is not None else (self.problems[0].field if self.problems else None)

    @classmethod
    def from_problems(cls, problems: Sequence[Problem]) -> InvalidRequestError:
        """Build one error that lists every error-level problem."""
        errors = errors_only(problems)
        if len(errors) == 1:
            message = f"{errors[0].field}: {errors[0].message}"
        else:
            message = f"{len(errors)} problems: " + "; ".join(f"{p.field}: {p.message}" for p in errors)
        return cls(message, problems=errors)


class MissingAPIKeyError(InvalidRequestError):
    """No API key is configured. Nothing was sent."""

    default_hint = (
        "Set the FOXAPI_API_KEY environment variable (export FOXAPI_API_KEY=sk-...) before starting "
        "Python/Jupyter, pass FoxClient(api_key=...), or use the built-in emulator "
        "(FoxClient.emulator() / KlingWidget(emulator=True)) to try everything without a key."
    )


class AuthenticationError(FoxAPIError):
    """HTTP 401: the key is missing, wrong or expired."""

    default_hint = (
        "Check the key: set FOXAPI_API_KEY=sk-... (or FoxClient(api_key=...)) to a current key "
        "from your FoxAPI dashboard."
    )


class InsufficientCreditsError(FoxAPIError):
    """HTTP 402: the account balance is too low for this request."""

    default_hint = "Top up your FoxAPI balance, or choose a cheaper tier (720p/1080p, 5 s)."


class BlockedClientError(FoxAPIError):
    """HTTP 403 with the firewall's ``error code: 1010`` page: the gateway blocked this client."""

    default_hint = (
        "The API's firewall rejected this client by its signature (Cloudflare error 1010). "
        "foxkling-widgets sends its own User-Agent; if you replaced the HTTP client or its headers, "
        "restore an explicit User-Agent. If it persists, your network or proxy may be altering requests."
    )


class NotFoundError(FoxAPIError):
    """HTTP 404: the provider does not know this task id."""

    default_hint = "Check the task id (it looks like task-unified-<unix>-<8 chars>) and the base URL."


class ResultExpiredError(NotFoundError):
    """The result URL no longer serves the video (403/404/410): its 24-hour window has passed."""

    default_hint = (
        "FoxAPI keeps result files for 24 hours only; this one has expired and cannot be recovered. "
        "Videos are downloaded as soon as a task completes to avoid this; generate the clip again."
    )


class RateLimitError(FoxAPIError):
    """HTTP 429 that persisted through retries. ``retry_after`` is the server's hint in seconds."""

    default_hint = "Too many requests: wait a little, or lower the number of generations run at once."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(FoxAPIError):
    """HTTP 5xx on a request that is safe to repeat, after retries."""

    default_hint = "The provider or its upstream is failing; try again in a few minutes."


class SubmitUncertainError(FoxAPIError):
    """A submit may or may not have created (and billed) a task; it was deliberately not re-sent.

    Raised after a 5xx, a timeout or a dropped connection once the POST may have reached the
    server. FoxAPI has no idempotency key and no task list, so re-sending could pay twice.
    """

    default_hint = (
        "The submit may have been accepted and billed even though no task id came back. It was NOT "
        "re-sent, to avoid paying twice. Check your FoxAPI usage page before submitting again."
    )

    def __init__(self, message: str, **kwargs: Any) -> None:
        if kwargs.get("task_id") and kwargs.get("hint") is None:
            # The answer named its task: it is in the journal and can be followed, not guessed at.
            kwargs["hint"] = (
                f"The answer named task {kwargs['task_id']}; it is kept in the task journal, and "
                "client.wait(id) or client.resume() follows it. It was NOT re-sent."
            )
        super().__init__(message, **kwargs)


class JournalUnavailableError(FoxAPIError):
    """The task journal could record neither in its database nor in its spool file: nothing was sent.

    A billed submit is only sent once a trace of it is on disk, so that a crash mid-request can
    never leave a paid task nobody knows about.
    """

    default_hint = (
        "Nothing was sent or billed. Free some disk space or check the permissions of the data directory "
        "(FOXKLING_DATA_DIR), or pass journal=False to the client to submit without a journal."
    )


class APIConnectionError(FoxAPIError):
    """The server could not be reached (or timed out) on a safe request, after retries."""

    default_hint = "Check your network connection and FOXAPI_BASE_URL."


class ProtocolError(FoxAPIError):
    """The server answered with something that is not the API's JSON (an HTML page, bad JSON)."""

    default_hint = (
        "The response was not FoxAPI JSON: a proxy, captive portal or outage page may be in the way. "
        "Check FOXAPI_BASE_URL and try again."
    )


class DownloadError(FoxAPIError):
    """The video download failed or was cut off after retries. No partial file was left behind."""

    default_hint = "Try the download again; the result URL stays valid for 24 hours after completion."


class TaskFailedError(FoxAPIError):
    """The task ended in failure (or was cancelled). ``code`` is the provider's reason."""

    default_hint = "See the code: content_policy_violation means the prompt was refused; rephrase it."

    def __init__(self, message: str, *, task: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.task = task


class WaitTimeoutError(FoxAPIError, TimeoutError):
    """``wait`` gave up before the task finished. The task keeps running at the provider."""

    default_hint = (
        "The task is still running (and billed) at the provider; call wait() again with its id, or "
        "resume it later. FoxAPI has no cancel endpoint."
    )

    def __init__(self, message: str, *, task: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.task = task


class GenerationInterrupted(KeyboardInterrupt):
    """Ctrl-C or a notebook interrupt stopped a blocking call after a billed submit was sent.

    The submit itself was allowed to finish (a cut-off POST may be billed with its id lost), so
    ``task_id`` is the provider's id, already in the journal; it is ``None`` only when the submit's
    own outcome was unknown (then ``uncertain`` is true). The task keeps running at the provider:
    ``foxkling download ID`` or ``client.resume()`` picks it up. A ``KeyboardInterrupt``, so Run All
    and scripts stop as they would on any interrupt.
    """

    def __init__(self, task_id: str | None, *, uncertain: bool = False) -> None:
        self.task_id = task_id
        self.uncertain = uncertain
        if task_id:
            message = (
                f"Interrupted. Task {task_id} was submitted (and is billed); it keeps running at the provider "
                f"and is kept in the task journal. Pick it up with `foxkling download {task_id}`, "
                "client.resume(), or a new KlingWidget()."
            )
        else:
            message = (
                "Interrupted while a submit was in flight; its outcome is unknown and it may have been billed. "
                "It is recorded in the journal's uncertain submits (`foxkling tasks`)."
            )
        self.message = message
        super().__init__(message)
