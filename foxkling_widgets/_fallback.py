"""What a notebook shows where the studio cannot run: a text line, and a kernel-less HTML list.

GitHub, nbconvert and a notebook opened without its kernel show the HTML fallback; a text-only
view (and nbconvert's export above the fallback) shows the one line. The fallback is a second
output of its own, refreshed by display id as tasks finish (:class:`FallbackOutputs`):
refreshing the widget's own output instead would make the front end build a new view each time,
closing open panels and stopping a playing video. The widget's stylesheet hides it wherever the
live widget renders. All text is escaped; posters are not embedded (the saved widget state holds
each once, in ``_posters``, and a second copy would double a saved notebook's size).
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable, Sequence

from ._controller import Generation

__all__ = ["FallbackOutputs", "fallback_html", "plain_text"]


def fallback_html(generations: Sequence[Generation], mode: str) -> str:
    """The task list as text, newest first, all of it escaped."""
    rows = []
    for generation in generations:
        card = generation.to_card()
        error = f" — {html.escape(str(card['error']['message']))}" if card["error"] else ""
        rows.append(
            f"<li><b>{html.escape(card['status'])}</b> {html.escape(card['summary'])}{error}"
            f" <code>{html.escape(generation.id)}</code></li>"
        )
    items = "".join(rows) or "<li>No generations yet.</li>"
    note = "<p>The videos and posters show when the notebook runs with its kernel.</p>" if rows else ""
    return f"<div><b>Kling video studio</b> ({html.escape(mode)})<ul>{items}</ul>{note}</div>"


def plain_text(count: int, mode: str) -> str:
    """The one line a text-only view shows."""
    done = f"{count} generation{'s' if count != 1 else ''}" if count else "no generations yet"
    return f"Kling video studio ({mode}) — {done}"


class FallbackOutputs:
    """The fallback outputs of one widget, by display id: shown once per display, then refreshed."""

    def __init__(self) -> None:
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    @staticmethod
    def wrap(body: str) -> str:
        """The output's HTML: the fallback inside the element the widget's stylesheet hides."""
        return f'<div class="fk-fallback">{body}</div>'

    def show(self, body: str) -> None:
        """Display a new fallback output (from the cell that displays the widget)."""
        from IPython.display import display

        display_id = uuid.uuid4().hex
        self._ids.append(display_id)
        display({"text/html": self.wrap(body)}, raw=True, display_id=display_id)

    def refresh(self, body: Callable[[], str]) -> None:
        """Replace every output shown so far; ``body`` is called only when there is one."""
        if not self._ids:
            return
        from IPython.display import update_display

        output = self.wrap(body())
        for display_id in self._ids:
            update_display({"text/html": output}, raw=True, display_id=display_id)
