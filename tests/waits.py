"""Bounded polls for tests: wait until something holds, failing after a hang guard.

Never a timing assertion: the guard only stops a test that would otherwise hang, so it is generous
(a slow machine passes), and the poll interval only trades CPU for how soon a wait notices.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: How long a wait may take before the test fails as hung.
HANG_GUARD_S = 60.0


def until(condition: Callable[[], object], what: str, timeout_s: float = HANG_GUARD_S, every_s: float = 0.02) -> None:
    """Poll ``condition()`` every ``every_s`` until it is truthy; fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {timeout_s:g} s: {what}")
        time.sleep(every_s)
