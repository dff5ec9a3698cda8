"""The spending guard: what ``KlingWidget(budget=…)`` counts, and why work is refused.

The rule (README, "Teaching"):

* Counted against the cap: the credits this studio's tasks reserved in this kernel session
  (tasks restored from the journal are not this session's), plus, for its work still on its way
  (queued, submitting, or sent without a known price yet, or "uncertain"), the price it is
  expected to reserve. So does a task the provider accepted whose price was never said (stopped
  by the user, or a server that sends no ``usage``): the provider bills it all the same.
* A request's expected price is the :class:`~._credits.CreditBook`'s estimate for its tier (the
  median of past same-tier tasks). With no history for the tier, the highest price any task in
  the book reserved stands in: the cautious guess, since a tier never seen may be the dearest.
* With no price known at all (a fresh journal: the first clip of a class), one generation of
  unknown price may run at a time, and only while some budget is left: it can pass the cap by its
  own price, once; its price is known as soon as its POST is answered. A batch (or a second clip
  while the first is unpriced) is refused until then.
* Work that would pass the cap is refused before anything is sent: a batch is checked as a whole,
  so it starts entirely or not at all. Creating a voice is checked the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ._controller import Generation
from ._credits import CreditBook
from ._exceptions import Problem
from ._status import TaskStatus
from ._types import VideoRequest
from ._validation import MODEL_CREATE_VOICE

__all__ = ["BudgetGuard", "credits_text"]

Work = VideoRequest | Mapping[str, Any]  # a request, or a wire payload (a voice's)


class _Refusal(NamedTuple):
    """Why work would pass the budget, said two ways.

    ``alone`` stands on its own and names the budget (an error's message). ``shown`` is what
    the studio shows, where the budget is named already: after "Over the budget: " in
    Generate's reason and after "Budget: N of M credits left · Generate is refused: " in the
    budget line (``js/src/teacher.js``), so it neither says "budget" again nor repeats what is left.
    """

    alone: str
    shown: str


def credits_text(value: float) -> str:
    """``5`` or ``2.5``: how the studio prints a number of credits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


class BudgetGuard:
    """Checks work against a cap in credits (``cap=None``: no cap, nothing is ever refused).

    ``generations`` gives the studio's generations and ``session`` what this session reserved
    (cleared cards included), both read on every check: the figures come from the tasks
    themselves, not from a trait that is refreshed a moment after a submit's answer.
    """

    def __init__(
        self,
        cap: float | None,
        book: CreditBook,
        generations: Callable[[], Sequence[Generation]],
        session: Callable[[], float],
    ) -> None:
        self.cap = cap
        self._book = book
        self._generations = generations
        self._session = session

    def _costs(self, payloads: Sequence[Mapping[str, Any]]) -> tuple[float, int]:
        """Expected credits of ``payloads`` (known part) and how many have no price to go on."""
        highest = self._book.highest()
        known, unknown = 0.0, 0
        for payload in payloads:
            estimate = self._book.estimate(payload)
            price = estimate if estimate is not None else highest
            if price is None:
                unknown += 1
            else:
                known += price
        return known, unknown

    def _pending(self) -> list[dict[str, Any]]:
        # This session's work whose reserved credits are not known yet but may be (or be billed).
        pending = []
        for generation in self._generations():
            if generation.restored or (generation.task is not None and generation.task.credits_reserved is not None):
                continue
            # A provider task exists (even stopped or finished: the provider bills it, told or not),
            # or its submit is on its way or may have been billed: it may reserve credits.
            submitted = generation.task_id is not None
            if not (submitted or generation.watching or generation.status == TaskStatus.UNCERTAIN):
                continue  # failed before or at its submit, or taken out of the queue: nothing reserved
            if generation.request is not None:
                pending.append(generation.request.to_payload())
            else:
                pending.append({"model": MODEL_CREATE_VOICE})
        return pending

    def problems(self, requests: Sequence[Work], session: float | None = None) -> list[Problem]:
        """Why starting ``requests`` now would pass the budget, or ``[]`` (always ``[]`` without a cap).

        The message is whole sentences with their figures, for an :class:`InvalidRequestError`
        (Python's callers and a refused ``generate`` message).
        """
        refusal = self._refusal(requests, session)
        return [Problem("budget", f"{refusal.alone} Nothing was sent.")] if refusal else []

    def _refusal(self, requests: Sequence[Work], session: float | None) -> _Refusal | None:
        cap = self.cap
        if cap is None or not requests:
            return None
        if session is None:
            session = self._session()
        held, held_unknown = self._costs(self._pending())
        payloads = [r.to_payload() if isinstance(r, VideoRequest) else r for r in requests]
        new, new_unknown = self._costs(payloads)
        committed = session + held
        left = cap - committed
        if any(p.get("model") == MODEL_CREATE_VOICE for p in payloads):
            what = "this voice"
        else:
            what = "this clip" if len(requests) == 1 else f"these {len(requests)} clips"
        subject = what[:1].upper() + what[1:]
        unknown = held_unknown + new_unknown
        if unknown == 0:
            if committed + new <= cap:
                return None
            cost, room = f"≈ {credits_text(new)} credits", f"{credits_text(max(left, 0))} of {credits_text(cap)}"
            return _Refusal(
                f"{subject} would pass the budget: {cost}, with {room} left.",
                f"{subject} would cost {cost}, more than is left.",
            )
        if unknown == 1 and new_unknown <= 1 and left > 0 and committed + new <= cap:
            return None  # the one clip of unknown price (see the rule above)
        if left <= 0:
            return _Refusal(
                f"The budget of {credits_text(cap)} credits is used up.",
                f"All {credits_text(cap)} credits are reserved." if cap > 0 else "No credits may be reserved.",
            )
        wait = "generate one clip first, or wait for the one on its way."
        return _Refusal(
            f"The price of {what} is not known yet (no past task to go on), so the budget "
            f"({credits_text(left)} of {credits_text(cap)} credits left) cannot be checked: {wait}",
            f"The price of {what} is not known yet (no past task to go on), so it cannot be checked "
            f"against what is left: {wait}",
        )

    def state(self, session: float, batch: Sequence[Work]) -> dict[str, Any]:
        """The ``_budget`` trait: ``{cap, reserved, left, refused}`` for the controls' ``batch``."""
        cap = self.cap
        if cap is None:
            return {"cap": None, "reserved": session, "left": None, "refused": ""}
        held, _unknown = self._costs(self._pending())
        refusal = self._refusal(batch, session)
        return {
            "cap": cap,
            "reserved": session + held,
            "left": max(cap - session - held, 0.0),
            "refused": refusal.shown if refusal else "",
        }
