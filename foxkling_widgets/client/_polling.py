"""When to ask again: an adaptive poll schedule for a running task (no I/O, no clock).

FoxAPI has no webhooks or streaming, so the client polls. A fixed 1 s poll notices completion
within about half a second but spends a request a second on tasks that take minutes; a fixed
5-10 s poll (what public clients use) is cheap but late. This policy aims for both: a median
detection latency of at most 2 s with at most a third of the 1 s poll's requests, whatever the
provider reports (see ``benchmarks/bench_polling.py``).

The provider's signals are often useless, so each is trusted only while it is plausible:

* **Progress rate**, when progress really moves (at least one new value after 0). The end is
  extrapolated from the times each new value was *first* seen. Progress that never moves (stuck
  at 0 until done) is no information, and a rate whose predicted end has passed (stuck at 99)
  is dropped.
* **Prior**: how long this tier took before, from the journal (``prior=``). Tasks of one tier
  vary by tens of percent, so it gives a window, not a time.
* **``estimated_time``**: often a constant (e.g. always 45 s whatever the task), so it too is
  only a window, and is dropped once elapsed time passes it.

The first source that still has a plausible end window ``[lo, hi]`` decides: before ``lo`` wait
a fraction of the time left to ``lo`` (few requests while the task cannot be done yet); inside
the window poll at a short interval (tighter for a tight rate window, 2 s for a prior, the steady
pace for ``estimated_time``); past ``hi``, or with no source at all, poll at a steady 3.1 s.

Why 3.1 s: with nothing known, evenly spaced polls are the cheapest way to reach a given median
latency, which is then half the interval, while the request count is the task's duration over
the interval. A median of at most 2 s with at most a third of a 1 s poll's requests therefore
needs an interval between about 3 and 4 s; 3.1 s leaves room on the request side (about 0.32x)
and keeps the median near 1.5 s. A task past its estimate is likely to end soon, so an overrun
is *not* a reason to back off (tasks realistically take 30-300+ s): only tasks younger than that
range (``shortest``) are polled up to twice as sparsely, and only tasks far beyond it (over
``long_task`` seconds) slowly stretch the interval. A floor and a ceiling bound every wait, so no
completion is noticed later than ``ceiling`` after it happens.

``completed`` without a result URL (a known provider race) is imminent but may last: it is polled
at 0.5, 1, 2, 4 s ... up to ``race_cap`` (giving up is the caller's decision). Jitter keeps many
widgets from polling in lockstep.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._types import Task, TaskStatus

__all__ = ["FixedPolicy", "PollPolicy", "Snapshot"]

#: (seconds since submit, progress 0-100) as observed.
Snapshot = tuple[float, float]
#: A plausible window for the end of a task, in seconds since submit, and the wait inside it.
_Window = tuple[float, float, float]

_RACE_MEMORY = 256  # tasks whose completed-without-result count is remembered (bounded; see _races)


def _finite(value: float | None) -> float | None:
    """``value`` as a float when it is a finite number, else ``None`` (server and journal data is untrusted)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean(history: Sequence[Snapshot]) -> list[Snapshot]:
    """The usable part of ``history``: finite times in order, progress clamped to 0-100."""
    cleaned: list[Snapshot] = []
    for entry in history:
        try:
            elapsed, progress = _finite(entry[0]), _finite(entry[1])
        except (TypeError, IndexError):
            continue
        if elapsed is None or progress is None or (cleaned and elapsed < cleaned[-1][0]):
            continue
        cleaned.append((max(0.0, elapsed), max(0.0, min(100.0, progress))))
    return cleaned


@dataclass(frozen=True)
class PollPolicy:
    """Adaptive schedule (see the module docstring for the reasoning).

    Attributes:
        floor: shortest wait (bounds the request rate near the end).
        ceiling: longest wait (bounds how late a surprise completion is noticed).
        steady: wait when nothing plausible is known (no usable progress, estimate or prior).
        near: longest wait inside a plausible end window from a prior or ``estimated_time``.
        fraction: share of the time left before a window opens to wait.
        jitter: relative random spread applied to each wait.
        prior_window: the plausible end, as multiples of the prior (tier durations vary).
        estimate_window: the plausible end, as multiples of the provider's ``estimated_time``.
        shortest: with nothing known, younger tasks are polled up to twice as sparsely (few end sooner).
        long_task: beyond this many seconds the steady wait grows in proportion (rare, long tasks).
        race_cap: longest wait while a task says ``completed`` without its result.
    """

    floor: float = 0.5
    ceiling: float = 15.0
    steady: float = 3.1
    near: float = 2.0
    fraction: float = 0.5
    jitter: float = 0.1
    prior_window: tuple[float, float] = (0.7, 1.4)
    estimate_window: tuple[float, float] = (0.7, 1.3)
    shortest: float = 30.0
    long_task: float = 300.0
    race_cap: float = 4.0
    # task id -> completed-without-result answers seen in a row. The only state: the history has
    # no statuses, and the backoff must restart for each task. Bounded, and cleared per task as
    # soon as it leaves that state.
    _races: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.floor <= self.ceiling and math.isfinite(self.ceiling)):
            raise ValueError(f"need 0 < floor <= ceiling < inf, got floor={self.floor}, ceiling={self.ceiling}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    # -- estimates ------------------------------------------------------------------------
    def _rate_window(self, history: list[Snapshot]) -> _Window | None:
        """End window extrapolated from progress that moved, or ``None`` when it never moved."""
        # (last time seen below, first time seen at) each new progress value: the value was reached
        # somewhere in between, which bounds the extrapolation both ways.
        levels: list[tuple[float, float, float]] = []
        best, before = 0.0, 0.0
        for elapsed, progress in history:
            if progress > best:
                levels.append((before, elapsed, progress))
                best = progress
            before = elapsed
        levels = [level for level in levels if level[2] < 100.0]
        if not levels:
            return None
        _, seen, progress = levels[-1]
        if len(levels) >= 2:
            first = levels[0]
            span = seen - first[1]
            if span <= 0:
                return None
            # Between first sightings: both are late by about one poll, which cancels out.
            rate = (progress - first[2]) / span
            if rate <= 0:
                return None  # underflow: a step too small to measure over this span
            left = (100.0 - progress) / rate
            lo, hi = seen + 0.85 * left, seen + 1.2 * left
        else:
            # One coarse step (e.g. 0 -> 50 -> 100): assume progress started at submit.
            if seen <= 0:
                return None  # moving already at the first look: no time base yet
            earliest = levels[-1][0]
            lo, hi = earliest * 100.0 / progress, seen * 100.0 / progress * 1.1
        hi += self.floor  # slack for the time the server rounds or refreshes progress
        return lo, hi, min(self.near, max(self.floor, (hi - lo) / 4))

    @staticmethod
    def _scaled_window(duration: float | None, bounds: tuple[float, float], inside: float) -> _Window | None:
        if duration is None or duration <= 0:
            return None
        return duration * bounds[0], duration * bounds[1], inside

    def window(
        self, history: Sequence[Snapshot], estimated_time: float | None, *, prior: float | None = None
    ) -> _Window | None:
        """The plausible end ``(lo, hi, wait inside)`` in seconds since submit, or ``None``.

        The first of progress rate, prior and ``estimated_time`` whose window has not passed yet.
        """
        cleaned = _clean(history)
        elapsed = cleaned[-1][0] if cleaned else 0.0
        for window in (
            self._rate_window(cleaned),
            self._scaled_window(_finite(prior), self.prior_window, self.near),
            # The provider's estimate is often a constant: inside its window, no faster than steady.
            self._scaled_window(_finite(estimated_time), self.estimate_window, self.steady),
        ):
            # Extreme inputs (huge times, tiny progress) overflow; such a window says nothing.
            if window is not None and all(map(math.isfinite, window)) and elapsed <= window[1]:
                return window
        return None

    def remaining(
        self, history: Sequence[Snapshot], estimated_time: float | None, *, prior: float | None = None
    ) -> float | None:
        """Seconds until the earliest plausible end (0 inside the window), or ``None`` when unknown."""
        window = self.window(history, estimated_time, prior=prior)
        if window is None:
            return None
        cleaned = _clean(history)
        return max(0.0, window[0] - (cleaned[-1][0] if cleaned else 0.0))

    # -- schedule -------------------------------------------------------------------------
    def _race_delay(self, task: Task) -> float:
        count = self._races.pop(task.id, 0)
        self._races[task.id] = count + 1  # re-inserted last: the oldest entry goes first below
        while len(self._races) > _RACE_MEMORY:
            try:
                self._races.pop(next(iter(self._races)), None)
            except RuntimeError:  # another thread's watch changed the dict mid-iteration: next time
                break
        return min(self.race_cap, self.floor * 2.0 ** min(count, 30))

    def next_delay(
        self,
        history: Sequence[Snapshot],
        task: Task,
        estimated_time: float | None,
        *,
        prior: float | None = None,
    ) -> float:
        """Seconds to wait before the next query of ``task``, given what was observed so far.

        ``prior`` is how long tasks of this tier usually took (e.g. from the journal), if known.
        Always a finite number within ``[floor, ceiling]``, whatever the inputs.
        """
        if task.status is TaskStatus.COMPLETED and not task.done:
            # Completed but the URL is not attached yet (a seen race): imminent, but may drag on.
            delay = self._race_delay(task)
        else:
            self._races.pop(task.id, None)
            delay = self._delay(history, estimated_time, prior)
        delay *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return max(self.floor, min(self.ceiling, delay))

    def _delay(self, history: Sequence[Snapshot], estimated_time: float | None, prior: float | None) -> float:
        cleaned = _clean(history)
        elapsed = cleaned[-1][0] if cleaned else 0.0
        window = self.window(cleaned, estimated_time, prior=prior)
        if window is None:
            # Nothing plausible is known: a steady pace, stretched only for unusually long tasks,
            # and a little sparser while the task is younger than any realistic one.
            if elapsed < self.shortest:
                return min(2 * self.steady, max(self.steady, self.fraction * (self.shortest - elapsed)))
            return self.steady * max(1.0, elapsed / self.long_task)
        lo, _, inside = window
        if elapsed < lo:
            return max(inside, self.fraction * (lo - elapsed))
        return inside


@dataclass(frozen=True)
class FixedPolicy:
    """A fixed interval (the baseline the adaptive policy is measured against)."""

    interval: float = 1.0

    def next_delay(
        self,
        history: Sequence[Snapshot],
        task: Task,
        estimated_time: float | None,
        *,
        prior: float | None = None,
    ) -> float:
        """Always the same interval (``prior`` is accepted and ignored)."""
        return self.interval
