"""The teacher's settings: a spending cap and classroom mode, read from arguments or the environment.

``KlingWidget(budget=…)`` / ``FOXKLING_BUDGET`` and ``KlingWidget(classroom=…)`` /
``FOXKLING_CLASSROOM`` (README, "Teaching"). Bad values raise when the studio is built: a typo
must not leave a class without its cap. What the cap counts is :mod:`._budget`'s job.
"""

from __future__ import annotations

import math
import os
from typing import Final

from ._exceptions import InvalidRequestError
from .client import is_loopback_url

__all__ = [
    "BUDGET_ENV",
    "CLASSROOM_ENV",
    "CLASSROOM_KEY_REFUSED",
    "budget_setting",
    "classroom_setting",
    "emulator_for",
]

BUDGET_ENV: Final = "FOXKLING_BUDGET"  # credits each studio may reserve in its kernel session
CLASSROOM_ENV: Final = "FOXKLING_CLASSROOM"  # "1": every studio stays on the emulator, the key field is hidden
_TRUE = frozenset({"1", "true", "yes", "on"})
CLASSROOM_KEY_REFUSED: Final = (
    "Classroom mode: this studio always uses the emulator, so no key is taken here (nothing is billed). "
    "Ask the teacher."
)


def budget_setting(budget: float | None) -> float | None:
    """The cap in credits: the argument, else ``FOXKLING_BUDGET``, else none. Bad values raise at once.

    Raised rather than ignored: a teacher's typo must not silently leave a class without its cap.
    """
    source = "budget"
    if budget is None:
        raw = os.environ.get(BUDGET_ENV, "").strip()
        if not raw:
            return None
        source = BUDGET_ENV
        try:
            budget = float(raw)
        except ValueError:
            raise InvalidRequestError(
                f"{BUDGET_ENV}={raw[:40]!r} is not a number of credits (e.g. {BUDGET_ENV}=50).", field="budget"
            ) from None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget < 0:
        raise InvalidRequestError(f"{source} must be a number of credits, 0 or more (got {budget!r}).", field="budget")
    return float(budget)


def classroom_setting(classroom: bool | None) -> bool:
    """Classroom mode: the argument, else ``FOXKLING_CLASSROOM`` (1/true/yes/on)."""
    if classroom is not None:
        return bool(classroom)
    return os.environ.get(CLASSROOM_ENV, "").strip().lower() in _TRUE


def emulator_for(
    in_classroom: bool, emulator: bool | None, client_mode: str | None, client_url: str | None = None
) -> bool | None:
    """The ``emulator`` choice a studio is built with; raises when classroom mode is contradicted.

    ``client_mode`` and ``client_url`` are the mode and base URL of a client passed in (``None``:
    none given). In classroom mode the answer is always ``True``, whatever keys are set:
    ``FOXAPI_API_KEY`` is not even looked at. A client's mode is a label it was given
    (``mode="emulator"``), so its URL must be this machine's too, where every emulator runs:
    a label alone would let the studio say "nothing is billed" while it sends to a live API.
    """
    if not in_classroom:
        return emulator
    if emulator is False:
        raise ValueError("classroom mode always uses the emulator: drop emulator=False or classroom=True")
    given = client_mode if client_mode is not None else "emulator"
    if given == "emulator" and client_url is not None and not is_loopback_url(client_url):
        given = f"marked 'emulator' but sending to {client_url}, which is not this machine"
    if given != "emulator":
        raise ValueError(
            f"classroom mode keeps every student on the emulator; the client given is {given!r}. "
            "Build the studio without client=, or with FoxClient.emulator()."
        )
    return True
