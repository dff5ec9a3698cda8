"""The ``%%kling`` cell magic: the cell body is the prompt, options are flags.

::

    %load_ext foxkling_widgets

    %%kling --aspect 9:16 --duration 10 --audio --segment "wide shot:6" --segment "close-up:4"
    A red fox trots through fresh snow at dawn

Progress and then the video appear in that cell's output. The cell blocks while the clip is
generated (the polling itself runs on the client's own thread), so a class can run the
notebook top to bottom. Bad flags or an invalid request print the reason and send nothing.
Interrupting the cell stops watching; the output then keeps the task id, since the provider
may still finish (and bill) the task. Videos go to the shared video cache and the journal.
"""

from __future__ import annotations

import argparse
import html
import os
import shlex
from typing import Any

from ._cache import VideoCache
from ._display import VideoDisplay
from ._exceptions import FoxAPIError
from ._types import Task, VideoRequest
from .cli import add_request_arguments, request_from_args

__all__ = ["kling", "register"]


class _MagicParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _MagicParser(prog="%%kling", add_help=False)
    add_request_arguments(parser)
    return parser


def parse(line: str, cell: str) -> tuple[VideoRequest, bool]:
    """The request a ``%%kling`` cell describes, and whether the emulator was asked for."""
    args = _parser().parse_args(shlex.split(line))
    return request_from_args(args, cell.strip()), bool(args.emulator)


def _progress_html(task: Task) -> str:
    return (
        f"<div><progress max='100' value='{task.progress:.0f}'></progress> "
        f"{html.escape(task.status_text)} {task.progress:.0f}% <code>{html.escape(task.id)}</code></div>"
    )


def _error_html(error: BaseException) -> str:
    hint = getattr(error, "hint", "")
    text = f"%%kling: {error}" + (f"\n{hint}" if hint else "")
    return f"<pre style='color:var(--jp-error-color1,#c62828)'>{html.escape(text)}</pre>"


def kling(line: str, cell: str) -> VideoDisplay | None:
    """Generate the clip a ``%%kling`` cell describes and return it for display."""
    from IPython.display import HTML, display

    from .client import FoxClient

    try:
        request, force_emulator = parse(line, cell)
        request.validate()
    except (ValueError, FoxAPIError) as error:
        display(HTML(_error_html(error)))
        return None
    use_emulator = force_emulator or not os.environ.get("FOXAPI_API_KEY")
    client = FoxClient.emulator() if use_emulator else FoxClient()
    cache = VideoCache()
    handle: Any = display(HTML("<div>submitting…</div>"), display_id=True)
    task: Task | None = None
    try:
        with client:
            task = client.submit(request)
            for snapshot in client.watch(task, timeout=900):
                task = snapshot
                handle.update(HTML(_progress_html(snapshot)))
            if task.failed:
                reason = task.error.message if task.error else "no reason given"
                code = task.error.code if task.error else None
                text = f"Task {task.id} failed ({code}): {reason}"
                handle.update(HTML(f"<pre>{html.escape(text)}</pre>"))
                return None
            path = client.download(task, cache.path_for(task.id))
    except FoxAPIError as error:
        handle.update(HTML(_error_html(error)))
        return None
    except KeyboardInterrupt:
        # Say what happened to the money before the interrupt propagates (and stops Run All).
        where = f"task <code>{html.escape(task.id)}</code>" if task is not None else "the submit"
        handle.update(
            HTML(
                f"<div>Stopped watching {where}. FoxAPI has no cancel endpoint: the provider may keep "
                "running and billing it. It is kept in the task journal: a new KlingWidget picks it "
                "up, or <code>foxkling download ID</code> fetches it.</div>"
            )
        )
        raise
    cache.evict(protect=[path])
    from ._poster import poster_data_url

    handle.update(
        HTML(f"<div>done: <code>{html.escape(task.id)}</code> ({'emulator' if use_emulator else 'live'})</div>")
    )
    return VideoDisplay(path, poster=poster_data_url(path), caption=request.prompt[:120])


def register(ipython: Any) -> None:
    """Register ``%%kling`` with an IPython shell."""
    ipython.register_magic_function(kling, magic_kind="cell", magic_name="kling")
