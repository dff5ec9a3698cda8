"""Fault injection: a queue of named misbehaviours the emulator applies to upcoming requests.

Every failure the contract describes has a name here, so the client's handling of each can be
tested over real HTTP. Inject with ``Emulator.inject(name, times=1, **params)`` in-process, or
``POST /_emulator/faults {"fault": name, "times": 1, ...params}`` over HTTP.

| name | applies to | effect |
|---|---|---|
| ``rate_limit`` | any /v1 request | 429 with ``Retry-After: params.retry_after`` (default 1) |
| ``rate_limit_no_header`` | any /v1 request | 429 without ``Retry-After`` |
| ``server_error_get`` | task query | 500 |
| ``server_error_post`` | submit | 503 before any task is created (nothing billed) |
| ``server_error_post_after_create`` | submit | the task is created (and billed), then 500 |
| ``reset_post_after_create`` | submit | the task is created, then the connection drops mid-response |
| ``timeout_post_after_create`` | submit | the task is created, then the answer waits ``params.delay`` s (default 30) |
| ``reset_get`` | task query | the connection drops mid-response |
| ``malformed_json`` | task query | 200 with a body that is not JSON |
| ``html_error`` | ``params.on``: post/get/download/any (default any) | 502 with an HTML page |
| ``cloudflare_1010`` | any /v1 request | 403 ``text/plain`` ``error code: 1010`` |
| ``completed_without_results`` | task query | ``times`` polls say completed, progress 50, results null |
| ``unknown_status`` | task query | ``times`` polls say ``queued_upstream`` |
| ``cancelled`` | task query | the task is cancelled (terminal) |
| ``truncated_download`` | download | full Content-Length, half the bytes, then the connection closes |
| ``expired_url`` | download | ``params.status`` (default 410; 403/404 also seen) |
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULTS", "Fault", "FaultQueue"]

#: Fault name -> the request kinds it applies to ("post", "get", "download").
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


@dataclass
class Fault:
    """One queued fault: its name, how many more requests it applies to, and its parameters."""

    name: str
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    def applies_to(self, kind: str) -> bool:
        """Whether this fault fires on a request of ``kind`` ("post", "get" or "download")."""
        if self.name == "html_error" and self.params.get("on", "any") != "any":
            return bool(self.params["on"] == kind)
        return kind in FAULTS[self.name]


class FaultQueue:
    """Thread-safe queue of faults, applied in injection order; ``times`` counts down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, name: str, times: int = 1, **params: Any) -> None:
        """Queue a fault; raises ``ValueError`` for an unknown name."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(Fault(name, times, params))

    def take(self, kind: str, skip: frozenset[str] = frozenset()) -> Fault | None:
        """Consume one use of the first queued fault that applies to a request of ``kind``.

        Faults named in ``skip`` stay queued (e.g. the completed-without-results race waits for a
        task that is actually complete).
        """
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(kind) and fault.name not in skip:
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
