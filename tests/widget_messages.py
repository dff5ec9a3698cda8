"""A studio with no front end, for tests that speak its message protocol directly.

``recording_widget`` builds a ``KlingWidget`` whose outgoing messages are kept in ``w.sent``
instead of going to a comm; ``message`` delivers one front-end message and returns the kernel's
answer to it (docs/widget-protocol.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from foxkling_widgets import FoxClient, KlingWidget

#: The id every message delivered by :func:`message` carries (a transfer's id, for a video).
REQUEST_ID = "w1"


@contextmanager
def recording_widget(key: str, url: str) -> Iterator[KlingWidget]:
    """A studio on ``url`` with ``key``, recording what it sends in ``w.sent``; closed afterwards."""
    client = FoxClient(key, url)
    w = KlingWidget(client=client)
    sent: list[tuple[dict[str, Any], Any]] = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    w.sent = sent  # type: ignore[attr-defined]
    try:
        yield w
    finally:
        w.close()
        client.close()


def message(w: KlingWidget, **content: Any) -> dict[str, Any]:
    """Deliver a front-end message; return the answer to it.

    The answer, not the last message with its id: a ``video-request``'s chunks carry the request's
    id too, and its sender's thread may have sent some before this looks.
    """
    w._on_custom_message(w, {"id": REQUEST_ID, **content}, [])
    answer = "video-response" if content["kind"] == "video-request" else f"{content['kind']}-response"
    sent: list[tuple[dict[str, Any], Any]] = w.sent  # type: ignore[attr-defined]
    return next(
        c for c, _b in reversed(sent) if c.get("id") == REQUEST_ID and c.get("kind") in (answer, "error-response")
    )
