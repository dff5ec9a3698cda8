"""Front-end messages to handlers, and exactly one answer for each (docs/widget-protocol.md).

A :class:`Dispatcher` checks a message's shape, calls the handler registered for its kind and
makes sure an answer goes out whatever happens: the front end waits for it (Generate stays
disabled until then), and an unanswered request only ends in its timeout, with a vaguer message.
Handlers answer through :meth:`Dispatcher.reply`; a :class:`~._exceptions.FoxAPIError` they raise
becomes an answer with its message (and ``field``), anything else a short one naming the error's
type. Kinds and body shapes are defined once, in :mod:`._messages`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._exceptions import FoxAPIError, redact
from ._messages import ERROR_RESPONSE, KINDS, VIDEO_REQUEST, VIDEO_RESPONSE

__all__ = ["MAX_ID", "Dispatcher", "Handler", "message_id", "response_kind"]

logger = logging.getLogger("foxkling_widgets")

MAX_ID: Final = 200  # longer ids and kinds are not echoed back: the front end's are short

#: A handler gets the message (a dict with a usable id and a string kind) and answers it.
Handler = Callable[[dict[str, Any]], None]
#: ``send(content, buffers)``: the widget's ``send``.
Send = Callable[[dict[str, Any], "list[bytes] | None"], None]


def message_id(message: Mapping[str, Any]) -> str | None:
    """The id to echo: the message's own when it is usable, else ``None``."""
    value = message.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID else None


def response_kind(message: Mapping[str, Any]) -> str:
    """``<kind>-response`` (``video-response`` for a video request), or ``error-response``."""
    kind = message.get("kind")
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_ID or not kind.isprintable():
        return ERROR_RESPONSE
    return VIDEO_RESPONSE if kind == VIDEO_REQUEST else f"{kind}-response"


def _shown(kind: Any) -> str:
    return repr(kind) if isinstance(kind, str) and len(kind) <= MAX_ID else "(unusable)"


def _malformed(content: Any) -> str:
    """Why a front-end message cannot be acted on, or ``""``: nothing billed starts from one."""
    if not isinstance(content, dict):
        return f"A message must be an object with an id and a kind, not {type(content).__name__}."
    if not isinstance(content.get("kind"), str):
        return "The message has no kind (a string such as 'generate')."
    if message_id(content) is None:
        return f"The message has no usable id (a string of 1 to {MAX_ID} characters); nothing was done."
    return ""


class Dispatcher:
    """Calls the handler of each message's kind and guarantees one answer per message."""

    def __init__(self, send: Send, handlers: Mapping[str, Handler]) -> None:
        unknown = set(handlers) - KINDS
        if unknown:
            raise ValueError(f"handlers for kinds _messages.py does not define: {sorted(unknown)}")
        self._send = send
        self._handlers = dict(handlers)

    def reply(self, message: Mapping[str, Any], buffers: list[bytes] | None = None, **fields: Any) -> None:
        """Answer ``message``: ``{id, kind: "<kind>-response", **fields}``."""
        self._send({"id": message_id(message), "kind": response_kind(message), **fields}, buffers)

    def __call__(self, content: Any) -> None:
        """Handle one message from the front end; never raises."""
        kind = content.get("kind") if isinstance(content, dict) else None
        try:
            problem = _malformed(content)
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if problem:
                self.reply(content if isinstance(content, dict) else {}, ok=False, error=problem)
            elif handler is None:
                self.reply(
                    content,
                    ok=False,
                    error=f"Unknown message kind {_shown(kind)}: the front end and the "
                    "kernel are different versions. Restart the kernel and reload the page.",
                )
            else:
                handler(content)
        except FoxAPIError as error:
            self._refuse(content, error.message, field=getattr(error, "field", None))
        except Exception as error:  # noqa: BLE001  (the front end waits for an answer: always give one)
            # No traceback in the log: frames of a set-key message would be near the key.
            shown = kind if isinstance(kind, str) and kind in KINDS else "malformed"
            logger.error("handling a %r message failed: %s: %s", shown, type(error).__name__, redact(str(error)))
            self._last_resort(content, f"The kernel could not do that ({type(error).__name__}); see its log.")

    def _refuse(self, content: Any, error: str, **fields: Any) -> None:
        try:
            self.reply(content, ok=False, error=error, **fields)
        except Exception as failure:  # noqa: BLE001  (never escape, never a traceback)
            logger.error("answering a message failed: %s", type(failure).__name__)
            self._last_resort(content, f"The kernel could not do that ({type(failure).__name__}); see its log.")

    def _last_resort(self, content: Any, error: str) -> None:
        # An answer must go out even when building or sending the first failed.
        message = content if isinstance(content, dict) else {}
        try:
            self._send({"id": message_id(message), "kind": response_kind(message), "ok": False, "error": error}, None)
        except Exception as failure:  # noqa: BLE001  (a closed comm: nobody is listening any more)
            logger.error("answering a message failed: %s", type(failure).__name__)
