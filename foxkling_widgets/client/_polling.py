"""When to ask again: an adaptive poll schedule for a running task (pure; no I/O, no clock).

FoxAPI has no webhooks or streaming, so the client polls. A fixed 1 s poll notices completion
quickly but spends a request a second on tasks that take minutes; a fixed 5-10 s poll (what
public clients use) is cheap but late. This policy estimates the time left, from the observed
progress rate when progress moves and from the provider's ``estimated_time`` otherwise, and
waits about half of it: few requests early, frequent ones near the end. Jitter keeps many
widgets from polling in lockstep; a floor and a ceiling bound it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from .._types import Task, TaskStatus

__all__ = ["FixedPolicy", "PollPolicy", "Snapshot"]

#: (seconds since submit, progress 0-100) as observed.
Snapshot = tuple[float, float]


@dataclass(frozen=True)
class PollPolicy:
    """Adaptive schedule.

    Attributes:
        floor: shortest wait (bounds request rate near the end and detection latency).
        ceiling: longest wait (bounds how late a surprise completion is noticed).
        fraction: share of the estimated remaining time to wait.
        jitter: relative random spread applied to each wait.
    """

    floor: float = 0.5
    ceiling: float = 15.0
    fraction: float = 0.5
    jitter: float = 0.1

    def remaining(self, history: Sequence[Snapshot], estimated_time: float | None) -> float | None:
        """Estimated seconds until completion, or ``None`` when nothing is known."""
        elapsed, progress = history[-1]
        moving = [s for s in history if s[1] > 0]
        if len(moving) >= 2 and moving[-1][1] > moving[0][1]:
            (t0, p0), (t1, p1) = moving[0], moving[-1]
            rate = (p1 - p0) / max(1e-6, t1 - t0)
            by_rate = (100.0 - progress) / rate
            if estimated_time:
                # Progress reports are coarse; blend with the provider's estimate while they agree.
                return min(by_rate, max(0.0, estimated_time - elapsed)) if elapsed < estimated_time else by_rate
            return by_rate
        if estimated_time:
            return estimated_time - elapsed
        return None

    def next_delay(self, history: Sequence[Snapshot], task: Task, estimated_time: float | None) -> float:
        """Seconds to wait before the next query of ``task``, given what was observed so far."""
        if task.status is TaskStatus.COMPLETED:
            # Completed but the URL is not attached yet (a seen race): it is imminent.
            return self.floor
        remaining = self.remaining(history, estimated_time)
        elapsed = history[-1][0]
        if remaining is None:
            delay = max(self.floor, min(self.ceiling, 1.0 + elapsed * 0.25))
        elif remaining <= 0:
            # Overdue: the estimate was wrong. Back off slowly so a long overrun stays cheap.
            delay = max(self.floor, min(self.ceiling, -remaining * 0.25))
        else:
            delay = max(self.floor, min(self.ceiling, remaining * self.fraction))
        return max(self.floor, delay * random.uniform(1 - self.jitter, 1 + self.jitter))


@dataclass(frozen=True)
class FixedPolicy:
    """A fixed interval (the baseline the adaptive policy is measured against)."""

    interval: float = 1.0

    def next_delay(self, history: Sequence[Snapshot], task: Task, estimated_time: float | None) -> float:
        """Always the same interval."""
        return self.interval
