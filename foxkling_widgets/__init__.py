"""foxkling-widgets: Kling V3 video generation in Jupyter, through FoxAPI.

The public surface is exactly ``__all__`` (a test keeps it so). Layers, lowest first:
``_validation`` (pure rules) and ``_types`` / ``_exceptions``; ``client`` (HTTP, knows no widget);
``emulator`` (an independent local FoxAPI); ``_journal`` (nothing lost across restarts);
``_controller`` (owns the asyncio work of a widget); ``_widget`` (the anywidget front end's model).
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._exceptions import (
    APIConnectionError,
    AuthenticationError,
    BlockedClientError,
    DownloadError,
    FoxAPIError,
    InsufficientCreditsError,
    InvalidRequestError,
    JournalUnavailableError,
    MissingAPIKeyError,
    NotFoundError,
    Problem,
    ProtocolError,
    RateLimitError,
    ResultExpiredError,
    ServerError,
    SubmitUncertainError,
    TaskFailedError,
    WaitTimeoutError,
)
from ._types import Segment, Task, TaskError, TaskStatus, VideoRequest
from ._version import __version__
from .client import AsyncFoxClient, FoxClient

if _TYPE_CHECKING:
    from ._controller import Batch, Generation
    from ._widget import KlingWidget

__all__ = [
    "APIConnectionError",
    "AsyncFoxClient",
    "AuthenticationError",
    "Batch",
    "BlockedClientError",
    "DownloadError",
    "FoxAPIError",
    "FoxClient",
    "Generation",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "JournalUnavailableError",
    "KlingWidget",
    "MissingAPIKeyError",
    "NotFoundError",
    "Problem",
    "ProtocolError",
    "RateLimitError",
    "ResultExpiredError",
    "Segment",
    "ServerError",
    "SubmitUncertainError",
    "Task",
    "TaskError",
    "TaskFailedError",
    "TaskStatus",
    "VideoRequest",
    "WaitTimeoutError",
    "__version__",
    "load_ipython_extension",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext foxkling_widgets``: registers the ``%%kling`` cell magic."""
    from ._magic import register

    register(ipython)


def __getattr__(name: str) -> object:
    # The widget pulls in anywidget, ipywidgets and IPython (most of a second): only code that
    # uses it pays for it, so the client and the CLI start fast.
    if name == "KlingWidget":
        from ._widget import KlingWidget

        return KlingWidget
    if name in ("Batch", "Generation"):
        from . import _controller

        return getattr(_controller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
