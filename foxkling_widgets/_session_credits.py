"""The studio's credit figures: the estimate for the controls, this session's spending, the journal's.

The ``_credits`` trait (``{estimate, session, journal}``) comes from here. The journal is read
once per API host (:meth:`SessionCredits.reload`: when the studio is built and when a key is
pasted or cleared), never per keystroke; after that the figures come from the
:class:`~._credits.CreditBook` in memory, which learns each task's ``credits_reserved`` as the
cards are published (:meth:`SessionCredits.learn`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._controller import Generation
from ._credits import CreditBook
from ._types import VideoRequest
from ._validation import MODEL_CREATE_VOICE
from .client import JournalLike

__all__ = ["SessionCredits", "session_credits"]


def session_credits(generations: Iterable[Generation]) -> float:
    """What this kernel session's generations reserved (restored ones are an earlier session's)."""
    return sum(g.task.credits_reserved or 0 for g in generations if g.task is not None and not g.restored)


class SessionCredits:
    """One studio's credit figures over a :class:`CreditBook`.

    ``generations`` gives the studio's generations, read on every call.
    """

    def __init__(self, generations: Callable[[], Sequence[Generation]]) -> None:
        self.book = CreditBook()
        self._generations = generations
        self._foreign: set[int] = set()  # generations whose credits belong to another API host
        self._cleared = 0.0  # this session's credits of cards cleared from the list

    def reload(self, journal: JournalLike | None, host: str) -> None:
        """Read the journal's credits for ``host`` into memory (one read)."""
        self.book.load(journal, host)
        # Cards already shown that the new host's journal does not know ran elsewhere (e.g. on
        # the emulator before a key was pasted): their credits must not count for this host.
        self._foreign = {id(g) for g in self._generations() if g.id not in self.book}

    def session(self) -> float:
        """This session's spending, counted from the tasks themselves (cleared cards included).

        Not from the trait: that is refreshed with the next publish, a moment after a submit's
        answer, and the budget's check must not miss it.
        """
        return session_credits(self._generations()) + self._cleared

    def cleared(self, gone: Iterable[Generation]) -> None:
        """Generations cleared from the studio: their credits were still spent in this session."""
        gone = list(gone)
        self._cleared += session_credits(gone)
        self._foreign -= {id(g) for g in gone}

    def figures(self, batch: Sequence[VideoRequest]) -> dict[str, Any]:
        """The ``_credits`` trait for the controls' ``batch`` (one request, or a grid's)."""
        book = self.book
        guess = None
        if book.readable:
            guesses = [book.estimate(r.to_payload()) for r in batch]
            # A batch's estimate is the sum of its members', and unknown if any one is unknown.
            guess = sum(g for g in guesses if g is not None) if batch and None not in guesses else None
        return {"estimate": guess, "session": self.session(), "journal": book.total if book.readable else None}

    def learn(self, cards: Sequence[Mapping[str, Any]]) -> bool:
        """Fold the published cards' ``credits_reserved`` into the book; returns whether it changed.

        On the controller's thread, with each publish: a task's credits arrive with its submit (or
        a later poll), and the journal has recorded them by then, so the figures stay equal to the
        journal's without reading it again.
        """
        requests = {card["id"]: card["request"] for card in cards}
        changed = False
        for generation in self._generations():
            credits = generation.task.credits_reserved if generation.task is not None else None
            if credits is None or id(generation) in self._foreign:
                continue
            request = requests.get(generation.key)
            if request is None:
                request = generation.request.to_payload() if generation.request else {"model": MODEL_CREATE_VOICE}
            changed = self.book.observe(generation.id, request, credits) or changed
        return changed
