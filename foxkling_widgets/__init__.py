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

if _TYPE_CHECKING:
    from ._controller import Batch, Generation
    from ._widget import KlingWidget
    from .client import AsyncFoxClient, FoxClient

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
    # Imported on first use, so `import foxkling_widgets` and `foxkling --help` start fast: the
    # widget pulls in anywidget, ipywidgets and IPython (most of a second), the clients asyncio
    # (and, once one is built, httpx).
    if name == "KlingWidget":
        from ._widget import KlingWidget

        return KlingWidget
    if name in ("Batch", "Generation"):
        from . import _controller

        return getattr(_controller, name)
    if name in ("AsyncFoxClient", "FoxClient", "client"):
        # Also `foxkling_widgets.client`, as when the package imported it itself. Not `from .
        # import client`: that asks this function for "client" first, and so recurses.
        from importlib import import_module

        client = import_module(".client", __name__)
        return client if name == "client" else getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # The lazily imported names too (tab completion lists what `from foxkling_widgets import` takes).
    return sorted(set(globals()) | set(__all__))
