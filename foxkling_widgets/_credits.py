"""The widget's credit figures, kept in memory so a keystroke costs no journal read.

The credits line next to Generate shows an estimate for the current controls (the median that
past tasks of the same price tier reserved), what this session reserved, and all that the
journal recorded for the API host. Asking the journal for the estimate and the total on every
control change re-read and re-parsed up to 100,000 rows per keystroke. A :class:`CreditBook`
reads the journal once (:meth:`CreditBook.load`), learns this widget's tasks as their
``credits_reserved`` becomes known (:meth:`CreditBook.observe`), and answers from memory.

It answers what :meth:`Journal.credit_estimate` and :meth:`Journal.credits_total` would for the
same rows: the estimate looks at the newest :data:`ESTIMATE_WINDOW` tasks, the total at up to
:data:`TOTAL_LIMIT`. Tasks another kernel records after the load are not seen until the next
load (a new widget, or a key change that moves to another API host).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ._validation import price_tier
from .client import JournalLike

logger = logging.getLogger("foxkling_widgets")

__all__ = ["ESTIMATE_WINDOW", "TOTAL_LIMIT", "CreditBook"]

# The windows Journal.credit_estimate and Journal.credits_total read (keep them equal).
ESTIMATE_WINDOW = 500
TOTAL_LIMIT = 100_000

Tier = tuple[Any, ...]


class _Entry(Protocol):
    task_id: str
    request: dict[str, Any]
    credits_reserved: float | None


class CreditBook:
    """Credits per task in memory: the estimate per tier and the recorded total. Thread-safe.

    Both the kernel's thread (control changes) and the controller's loop thread (task cards)
    use one book, hence the lock; every method is O(1) in the journal's size except
    :meth:`load` (one read) and the first estimate for a tier after a change (one pass over at
    most :data:`ESTIMATE_WINDOW` tasks).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # task id -> (tier, credits), newest first (the journal's order: created DESC).
        self._tasks: OrderedDict[str, tuple[Tier, float | None]] = OrderedDict()
        self._total = 0.0
        self._medians: dict[Tier, float | None] = {}  # cache, cleared on every change
        self._highest: tuple[float | None] | None = None  # cache of highest(), cleared on every change
        self.source: tuple[object, str] | None = None  # (journal, base_url) the book was loaded from
        self.readable = False  # whether the journal could be read at all (else figures are unknown)

    def load(self, journal: JournalLike | None, base_url: str) -> None:
        """Replace the contents with the journal's tasks for ``base_url`` (one read; never raises)."""
        entries: Iterable[_Entry] = ()
        if journal is not None:
            try:
                entries = journal.entries(base_url=base_url or None, limit=TOTAL_LIMIT)
            except Exception as error:  # noqa: BLE001 - figures become "unknown", the studio carries on
                logger.warning("journal reading credits failed: %s", error)
                journal = None
        tasks: OrderedDict[str, tuple[Tier, float | None]] = OrderedDict()
        for entry in entries:
            tasks.setdefault(entry.task_id, (price_tier(entry.request), entry.credits_reserved))
        with self._lock:
            self._tasks = tasks
            self._total = sum(credits or 0 for _tier, credits in tasks.values())
            self._medians.clear()
            self._highest = None
            self.source = (journal, base_url)
            self.readable = journal is not None

    def observe(self, task_id: str, request: Mapping[str, Any], credits: float | None) -> bool:
        """Note a task's reserved credits (``None``: not known yet); returns whether anything changed.

        A task not seen before is the newest (it takes a place in the estimate's window even
        without credits, as its journal row does); a known one keeps its place, as in the
        journal, where a poll updates the row in place.
        """
        with self._lock:
            known = self._tasks.get(task_id)
            if known is not None and (credits is None or known[1] == credits):
                return False  # the journal keeps known credits when a poll has none (COALESCE)
            self._total += (credits or 0) - ((known[1] or 0) if known is not None else 0)
            self._tasks[task_id] = (known[0] if known is not None else price_tier(request), credits)
            if known is None:
                self._tasks.move_to_end(task_id, last=False)
                while len(self._tasks) > TOTAL_LIMIT:
                    _gone, (_tier, dropped) = self._tasks.popitem(last=True)
                    self._total -= dropped or 0
            self._medians.clear()
            self._highest = None
            return True

    def estimate(self, payload: Mapping[str, Any]) -> float | None:
        """The median credits past same-tier tasks reserved (newest :data:`ESTIMATE_WINDOW`), or ``None``."""
        wanted = price_tier(payload)
        with self._lock:
            if wanted not in self._medians:
                seen = []
                for index, (task_tier, credits) in enumerate(self._tasks.values()):
                    if index >= ESTIMATE_WINDOW:
                        break
                    if credits is not None and task_tier == wanted:
                        seen.append(credits)
                seen.sort()
                self._medians[wanted] = seen[len(seen) // 2] if seen else None
            return self._medians[wanted]

    def highest(self) -> float | None:
        """The most credits any task in the book reserved (any tier), or ``None`` if none is known.

        The spending guard's stand-in for a tier with no history (``KlingWidget(budget=...)``).
        """
        with self._lock:
            if self._highest is None:
                known = [credits for _tier, credits in self._tasks.values() if credits is not None]
                self._highest = (max(known) if known else None,)
            return self._highest[0]

    def __contains__(self, task_id: object) -> bool:
        with self._lock:
            return task_id in self._tasks

    @property
    def total(self) -> float:
        """Credits reserved by every task in the book (what ``Journal.credits_total`` counts)."""
        with self._lock:
            return self._total
