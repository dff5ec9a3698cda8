"""The FoxAPI client: :class:`AsyncFoxClient` (the implementation) and :class:`FoxClient` (its blocking face).

It knows nothing of widgets or notebooks. See :mod:`._http` for the retry and money rules and
:mod:`._polling` for the poll schedule.
"""

from ._async import AsyncFoxClient, JournalLike
from ._http import DEFAULT_BASE_URL, USER_AGENT, RetryPolicy, key_configured, wants_emulator
from ._polling import FixedPolicy, PollPolicy
from ._sync import FoxClient

__all__ = [
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "AsyncFoxClient",
    "FixedPolicy",
    "FoxClient",
    "JournalLike",
    "PollPolicy",
    "RetryPolicy",
    "key_configured",
    "wants_emulator",
]
