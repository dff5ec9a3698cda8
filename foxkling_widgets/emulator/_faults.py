"""Fault injection: a queue of named misbehaviours the emulator applies to upcoming requests.

Every failure the contract describes has a name here, so the client's handling of each can be
tested over real HTTP. Inject with ``Emulator.inject(name, times=1, **params)`` in-process, or
``POST /_emulator/faults {"fault": name, "times": 1, ...params}`` over HTTP.

| name | applies to | effect |
|---|---|---|
| ``rate_limit`` | submit, task query | 429 with ``Retry-After: params.retry_after`` (default 1) |
| ``rate_limit_no_header`` | submit, task query | 429 without ``Retry-After`` |
| ``server_error_get`` | task query | 500 |
| ``server_error_post`` | submit | 503 before any task is created (nothing billed) |
| ``server_error_post_after_create`` | submit | the task is created (and billed), then 500 |
| ``reset_post_after_create`` | submit | the task is created, then the connection drops mid-response |
| ``timeout_post_after_create`` | submit | the task is created, then the answer waits ``params.delay`` s (default 30) |
| ``reset_get`` | task query | the connection drops mid-response |
| ``malformed_json`` | task query | 200 with a body that is not JSON |
| ``html_error`` | any (``params.on``) | 502 with an HTML page |
| ``cloudflare_1010`` | submit, task query | 403 ``text/plain`` ``error code: 1010`` |
| ``completed_without_results`` | task query | polls of a finished task say completed, progress 50, no result |
| ``unknown_status`` | task query | polls say ``queued_upstream`` |
| ``cancelled`` | task query | the polled task becomes ``cancelled`` (terminal, as shape B documents) |
| ``truncated_download`` | download | full ``Content-Length``, half the bytes, then the connection closes |
| ``expired_url`` | download | ``params.status`` (410 by default; 403 and 404 are also seen) |

Rules: faults apply in injection order and ``times`` counts down, one use per request.
``params.on`` (``"post"``, ``"get"`` or ``"download"``) narrows any fault to one kind of request.
The ``*_after_create`` faults wait for a submit that passes validation (a 422 does not use them up),
and ``completed_without_results`` waits for a poll of a task that is actually finished; other
faults behind a waiting one still apply. Dropped connections surface as a protocol error over real
HTTP; through ``httpx.ASGITransport`` the app's exception reaches the client instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AFTER_CREATE", "FAULTS", "Fault", "FaultQueue"]

#: Fault name -> the request kinds it can apply to ("post" = submit, "get" = task query, "download").
FAULTS: dict[str, frozenset[str]] = {
    "rate_limit": frozenset({"post", "get"}),
    "rate_limit_no_header": frozenset({"post", "get"}),
    "server_error_get": frozenset({"get"}),
    "server_error_post": frozenset({"post"}),
    "server_error_post_after_create": frozenset({"post"}),
    "reset_post_after_create": frozenset({"post"}),
    "timeout_post_after_create": frozenset({"post"}),
    "reset_get": frozenset({"get"}),
    "malformed_json": frozenset({"get"}),
    "html_error": frozenset({"post", "get", "download"}),
    "cloudflare_1010": frozenset({"post", "get"}),
    "completed_without_results": frozenset({"get"}),
    "unknown_status": frozenset({"get"}),
    "cancelled": frozenset({"get"}),
    "truncated_download": frozenset({"download"}),
    "expired_url": frozenset({"download"}),
}

#: Submit faults that act only once the task exists: the dangerous, billed-but-unanswered cases.
AFTER_CREATE = frozenset({"server_error_post_after_create", "reset_post_after_create", "timeout_post_after_create"})

_EXPIRED_STATUSES = (403, 404, 410)


@dataclass
class Fault:
    """One queued fault: its name, how many more requests it applies to, and its parameters."""

    name: str
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    def applies_to(self, kind: str) -> bool:
        """Whether this fault fires on a request of ``kind`` ("post", "get" or "download")."""
        on = self.params.get("on", "any")
        return kind in FAULTS[self.name] and on in ("any", kind)


class FaultQueue:
    """Thread-safe queue of faults (tests inject from their thread while the server's loop serves)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, name: str, times: int = 1, **params: Any) -> None:
        """Queue a fault; raises ``ValueError`` for an unknown name or parameters it cannot honour."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError("times must be a whole number, at least 1")
        on = params.get("on", "any")
        if on != "any" and on not in FAULTS[name]:
            raise ValueError(f"fault {name!r} cannot apply to {on!r}; it applies to {', '.join(sorted(FAULTS[name]))}")
        if name == "expired_url" and params.get("status", 410) not in _EXPIRED_STATUSES:
            raise ValueError(f"expired_url status must be one of {_EXPIRED_STATUSES}")
        with self._lock:
            self._faults.append(Fault(name, times, dict(params)))

    def take(self, kind: str, *, after_create: bool = False, skip: frozenset[str] = frozenset()) -> Fault | None:
        """Use up one application of the first queued fault for a request of ``kind``.

        Without ``after_create``, an after-create fault at the head of the queue stops the search
        (it waits for this request's task, which keeps injection order); with it, only those are
        considered. Faults named in ``skip`` are stepped over and stay queued.
        """
        with self._lock:
            for fault in self._faults:
                if not fault.applies_to(kind) or fault.name in skip:
                    continue
                if (fault.name in AFTER_CREATE) != after_create:
                    if after_create:
                        continue
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return Fault(fault.name, 1, dict(fault.params))
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        """The queued faults, for the stats endpoint."""
        with self._lock:
            return [{"fault": f.name, "times": f.times, **f.params} for f in self._faults]
