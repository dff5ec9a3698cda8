"""Every state a generation can be in, as one string enum, and the named groups of them.

:class:`TaskStatus` is a ``StrEnum``: each member *is* its wire string (``TaskStatus.QUEUED ==
"queued"``, ``json.dumps`` writes ``"queued"``), so cards, the journal and the front end keep the
words they always had. Two kinds of state share it:

* **The provider's** (what :attr:`foxkling_widgets.Task.status` holds, read by
  :meth:`TaskStatus.parse`): ``pending``, ``processing``, ``completed``, ``failed``,
  ``cancelled``, and ``unknown`` for a word the contract does not name (still polled).
* **The widget's own** (a generation's card, never sent by the provider): ``queued`` (waiting for
  one of the controller's slots; nothing sent, nothing billed), ``submitting`` (the POST is
  being sent), ``downloading``, ``stopped`` (the user stopped watching; the provider may go on),
  ``uncertain`` (the submit may have been billed without a task id) and ``expired`` (the result
  URL's 24 hours passed before the video was fetched).

The groups below are the one place where "which states count as finished / failed / running"
is written down; everything else (the journal's SQL, the CLI, the front end's ``_options``)
reads them. They are frozensets of members; :func:`ordered` lists a group in this file's order,
for output that must not depend on set iteration.

A provider's word and a member's value can look alike and differ in meaning: the provider's
``queued`` is :attr:`~TaskStatus.PENDING` (it has the task), and its ``expired`` is a failure,
not :attr:`~TaskStatus.EXPIRED` (ours: the result aged out here). :meth:`TaskStatus.parse` is
the one translation.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable

__all__ = [
    "ACTIVE",
    "FAILURES",
    "FINISHED",
    "PROVIDER",
    "PROVIDER_FAILURES",
    "RUNNING",
    "TERMINAL",
    "TaskStatus",
    "ordered",
]

if sys.version_info >= (3, 11):
    from enum import StrEnum as _StrEnum
else:  # pragma: no cover - Python 3.10: the same behaviour, spelt out

    class _StrEnum(str, enum.Enum):
        """``enum.StrEnum`` before Python 3.11: members are their values, also in ``str()`` and f-strings."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return str(self.value).__format__(spec)


class TaskStatus(_StrEnum):
    """A task's or generation's state (see the module docstring for whose is whose).

    Members are listed in the order a generation goes through them.
    """

    QUEUED = "queued"
    SUBMITTING = "submitting"
    PENDING = "pending"
    PROCESSING = "processing"
    UNKNOWN = "unknown"
    DOWNLOADING = "downloading"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    UNCERTAIN = "uncertain"
    EXPIRED = "expired"

    @classmethod
    def parse(cls, value: object) -> TaskStatus:
        """Map a server's status string to one of the provider's states (:data:`PROVIDER`).

        The contract documents five strings; gateways have been seen to use others. Ones that
        plainly mean an end (``error``, ``failure``, ``canceled``, ``expired``, ``timeout`` ...)
        end the task, so it is not polled until a timeout; anything else unknown is ``UNKNOWN``
        (still running, polled with back-off). Never one of the widget's own states.
        """
        text = str(value).strip().lower().replace("-", "_").replace(" ", "_") if isinstance(value, str) else ""
        return _PROVIDER_WORDS.get(text, cls.UNKNOWN)

    @property
    def is_failure(self) -> bool:
        """Failed or cancelled at the provider: terminal, and no result will come."""
        return self in PROVIDER_FAILURES


#: What the provider can report (:meth:`TaskStatus.parse` returns only these).
PROVIDER = frozenset(
    {
        TaskStatus.PENDING,
        TaskStatus.PROCESSING,
        TaskStatus.UNKNOWN,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    }
)
#: The provider is working on it ("running" to a person): accepted, not finished.
RUNNING = frozenset({TaskStatus.PENDING, TaskStatus.PROCESSING, TaskStatus.UNKNOWN})
#: The provider's task will never change again (the journal never moves a row out of these).
TERMINAL = PROVIDER - RUNNING
#: Ended at the provider without a result.
PROVIDER_FAILURES = TERMINAL - {TaskStatus.COMPLETED}
#: Work is going on in this kernel: waiting for a slot, submitting, followed, or downloading.
ACTIVE = frozenset({TaskStatus.QUEUED, TaskStatus.SUBMITTING, TaskStatus.DOWNLOADING}) | RUNNING
#: Nothing more will happen to it here or at the provider ("clear finished" removes these).
#: ``stopped`` (resumable) and ``uncertain`` (maybe billed: it stays in sight) are not finished.
FINISHED = TERMINAL | {TaskStatus.EXPIRED}
#: Ended, or may have ended, without a video: shown as failed.
FAILURES = PROVIDER_FAILURES | {TaskStatus.UNCERTAIN, TaskStatus.EXPIRED}

_PROVIDER_WORDS: dict[str, TaskStatus] = {
    **{word: TaskStatus.PENDING for word in ("pending", "queued", "submitted", "waiting", "created")},
    **{word: TaskStatus.PROCESSING for word in ("processing", "running", "in_progress", "generating", "started")},
    **{word: TaskStatus.COMPLETED for word in ("completed", "complete", "succeeded", "success", "successful")},
    **{
        word: TaskStatus.FAILED
        for word in ("failed", "failure", "fail", "error", "errored", "rejected", "expired", "timeout", "timed_out")
    },
    **{word: TaskStatus.CANCELLED for word in ("cancelled", "canceled", "aborted")},
}


def ordered(group: Iterable[TaskStatus]) -> list[str]:
    """The wire strings of ``group``, in :class:`TaskStatus` order (stable output: JSON, SQL)."""
    members = set(group)
    return [status.value for status in TaskStatus if status in members]
