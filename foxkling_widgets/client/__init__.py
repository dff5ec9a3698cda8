"""The FoxAPI client: :class:`AsyncFoxClient` (the implementation) and :class:`FoxClient` (its blocking face).

It knows nothing of widgets or notebooks. See :mod:`._http` for the retry and money rules and
:mod:`._polling` for the poll schedule. Code outside this package uses the names exported here
(``tests/test_layering.py`` refuses imports of its private modules and reads of its private attributes).
"""

from ._async import AsyncFoxClient, JournalLike, KeySource, is_loopback_url
from ._http import DEFAULT_BASE_URL, EMULATOR_KEY, USER_AGENT, RetryPolicy, key_configured, wants_emulator
from ._polling import FixedPolicy, PollPolicy
from ._sync import FoxClient

__all__ = [
    "DEFAULT_BASE_URL",
    "EMULATOR_KEY",
    "USER_AGENT",
    "AsyncFoxClient",
    "FixedPolicy",
    "FoxClient",
    "JournalLike",
    "KeySource",
    "PollPolicy",
    "RetryPolicy",
    "is_loopback_url",
    "key_configured",
    "wants_emulator",
]
