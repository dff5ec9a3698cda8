"""Which task-card update goes to the front end: the whole list, only the progress, or nothing.

Why: ``_tasks`` is one trait, and ipywidgets re-sends a trait whole on every change. With twenty
finished cards on screen, a progress tick of one running clip used to re-send every card (and,
before ``_posters``, every poster) several times a second. When only ``progress`` and
``status_text`` moved, a small ``cards-progress`` message says so instead
(docs/widget-protocol.md, "Progress deltas"); ``_tasks`` is re-set on any other change, with the
final state (nothing left running), and at least every ``FULL_EVERY_S`` while progress ticks, so
a view rendered later (or a saved notebook's state) is never far behind.

Pure logic with an injectable clock: the controller holds one :class:`CardPlanner` and calls it
under its publish lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from ._messages import CardProgress

__all__ = ["CARD_LIMIT", "FULL_EVERY_S", "PROGRESS_KEYS", "CardPlanner", "Plan", "in_sight", "progress_changes"]

T = TypeVar("T")

#: ``_tasks`` carries the newest this many cards, and older ones only while they need the user
#: (``in_sight``); ``_tasks_total`` says how many exist.
CARD_LIMIT: Final = 50
#: While only progress moves, ``_tasks`` is still re-set this often (seconds).
FULL_EVERY_S: Final = 5.0
#: The card fields a ``cards-progress`` message carries (with the card's ``id``).
PROGRESS_KEYS: Final = ("progress", "status_text")


def in_sight(items: Sequence[T], stays: Callable[[T], bool], limit: int = CARD_LIMIT) -> list[T]:
    """The items ``_tasks`` shows: the newest ``limit`` of ``items`` (newest first), and older ones ``stays`` keeps.

    Why not just the newest: a generation still running, stopped but resumable, or maybe billed
    ("uncertain") behind ``limit`` newer cards would drop out of every view, which could then
    neither stop, resume nor play it. Order is kept, so the kept ones come last, oldest last.
    """
    return [item for index, item in enumerate(items) if index < limit or stays(item)]


def progress_changes(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[CardProgress] | None:
    """The cards whose progress moved, when nothing but ``PROGRESS_KEYS`` differs; else ``None``.

    ``None`` also when the cards are not the same cards in the same order (one was added,
    removed or reordered): only a full ``_tasks`` can say that. ``[]``: nothing changed at all.
    """
    if len(before) != len(after):
        return None
    changed: list[CardProgress] = []
    for old, new in zip(before, after, strict=True):  # lengths checked above
        if old == new:
            continue
        if old.keys() != new.keys() or any(old[k] != new[k] for k in new if k not in PROGRESS_KEYS):
            return None
        changed.append({"id": str(new["id"]), "progress": new["progress"], "status_text": str(new["status_text"])})
    return changed


@dataclass(frozen=True)
class Plan:
    """What to send now: ``progress`` set means a ``cards-progress`` message, else the full cards."""

    cards: list[dict[str, Any]]
    total: int
    progress: list[CardProgress] | None = None


class CardPlanner:
    """Remembers what the views were sent and plans the next update.

    Not thread-safe: the controller calls it under its publish lock.
    """

    def __init__(self, *, full_every: float = FULL_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._full_every = full_every
        self._clock = clock
        self._shown: list[dict[str, Any]] | None = None  # the cards as the views have them now
        self._trait: list[dict[str, Any]] | None = None  # the cards as _tasks holds them (no deltas)
        self._total: int | None = None
        self._full_at = float("-inf")  # when _tasks was last set

    def plan(self, cards: list[dict[str, Any]], total: int, *, deltas: bool = True) -> Plan | None:
        """The update that brings the views to ``cards`` (``total`` known), or ``None`` if they have it.

        ``deltas=False`` (no progress channel, or the final state is wanted in the trait) plans
        the full cards whenever ``_tasks`` differs from them, even if the views have them already
        from deltas (the trait is what a saved notebook keeps and a later view starts from). So
        does a call once ``full_every`` has passed since ``_tasks`` was last set: progress that
        went as deltas and then stopped moving still reaches the trait (``catch_up_due``).
        """
        fresh = self._clock() - self._full_at < self._full_every
        if cards == self._shown and total == self._total:
            if cards == self._trait or (deltas and fresh):
                return None
            return Plan(cards, total)  # the trait catches up with what the deltas showed
        if deltas and fresh and self._shown is not None and total == self._total:
            moved = progress_changes(self._shown, cards)
            if moved and any(card.get("watching") for card in cards):
                return Plan(cards, total, moved)
        return Plan(cards, total)

    @property
    def full_every(self) -> float:
        """Seconds between two ``_tasks`` updates at most while only progress moves."""
        return self._full_every

    def catch_up_due(self) -> bool:
        """Whether ``_tasks`` is behind what the views were sent (deltas went out since)."""
        return self._shown is not None and self._shown != self._trait

    def sent(self, plan: Plan) -> None:
        """``plan`` went out: the views have its cards now."""
        self._shown, self._total = plan.cards, plan.total
        if plan.progress is None:
            self._trait, self._full_at = plan.cards, self._clock()

    def forget(self) -> None:
        """A send failed: plan the full cards next time."""
        self._shown, self._trait, self._total, self._full_at = None, None, None, float("-inf")
