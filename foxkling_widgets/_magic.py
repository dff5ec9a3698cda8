"""The ``%%kling`` cell magic: the cell body is the prompt, options are flags.

::

    %load_ext foxkling_widgets

    %%kling --aspect 9:16 --duration 10 --audio --segment "wide shot:6" --segment "close-up:4"
    A red fox trots through fresh snow at dawn

Progress and then the video appear in that cell's output. The cell blocks while the clip is
generated (the polling itself runs on the client's own thread), so a class can run the
notebook top to bottom. Bad flags or an invalid request print the reason and send nothing.
Interrupting the cell stops watching; the output then keeps the task id and says how to fetch it
(``foxkling download ID``), since the provider may still finish (and bill) the task. Text from the
server is shown terminal-safe and escaped. Classroom mode (``FOXKLING_CLASSROOM=1``) keeps it on
the emulator whatever keys are set, like the studio. Videos go to the shared video cache and the journal.
"""

from __future__ import annotations

import argparse
import html
import shlex
from typing import Any

from ._cache import VideoCache
from ._classroom import classroom_setting
from ._display import VideoDisplay
from ._exceptions import FoxAPIError, GenerationInterrupted
from ._request_flags import add_request_arguments, request_from_args
from ._terminal import terminal_safe
from ._types import Task, VideoRequest

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


def _safe(text: object) -> str:
    # Server text in HTML: bidi overrides and controls would still reorder or garble what is shown.
    return html.escape(terminal_safe(text))


def _progress_html(task: Task) -> str:
    return (
        f"<div><progress max='100' value='{task.progress:.0f}'></progress> "
        f"{_safe(task.status_text)} {task.progress:.0f}% <code>{_safe(task.id)}</code></div>"
    )


def _error_html(error: BaseException) -> str:
    lines = [str(error)]
    hint = getattr(error, "hint", "")
    # A FoxAPIError's str() already ends with " -- hint": put the hint on its own line, once.
    if hint and lines[0].endswith(f" -- {hint}"):
        lines = [lines[0][: -len(f" -- {hint}")], hint]
    text = "\n".join(_safe(line) for line in lines)
    return f"<pre style='color:var(--jp-error-color1,#c62828)'>%%kling: {text}</pre>"


def _interrupted_html(error: KeyboardInterrupt, task: Task | None, downloading: bool) -> str:
    """What became of the task, in the cell's output: its id and how to fetch it."""
    task_id = error.task_id if isinstance(error, GenerationInterrupted) else (task.id if task else None)
    if task_id is None:
        uncertain = isinstance(error, GenerationInterrupted) and error.uncertain
        if uncertain:
            return (
                "<div>Interrupted during the submit: its outcome is unknown and it may have been billed. "
                "<code>foxkling tasks</code> lists it among the possibly billed submits.</div>"
            )
        # A sent submit is finished by the client first (GenerationInterrupted): this one was refused or never sent.
        return (
            "<div>Interrupted during the submit, before a task id came back: most likely nothing was sent. "
            "<code>foxkling tasks</code> lists any submit that may have been billed.</div>"
        )
    fetch = f"<code>foxkling download {_safe(shlex.quote(task_id))}</code>"
    if downloading:
        return (
            f"<div>Stopped downloading task <code>{_safe(task_id)}</code>; no partial file was left. "
            f"The provider keeps the result for 24 hours: {fetch} or a new KlingWidget fetches it.</div>"
        )
    return (
        f"<div>Stopped watching task <code>{_safe(task_id)}</code>. It was submitted (and is billed), and "
        "FoxAPI has no cancel endpoint: the provider keeps running it. It is kept in the task journal: "
        f"{fetch} or a new KlingWidget fetches it.</div>"
    )


def kling(line: str, cell: str) -> VideoDisplay | None:
    """Generate the clip a ``%%kling`` cell describes and return it for display."""
    from IPython.display import HTML, display

    from .client import FoxClient, wants_emulator

    try:
        request, force_emulator = parse(line, cell)
        request.validate()
        # Classroom mode (FOXKLING_CLASSROOM) holds for the magic as for every studio: a key in
        # the environment (the teacher's) must not make a student's cell go live.
        use_emulator = classroom_setting(None) or wants_emulator(True if force_emulator else None)
        client = FoxClient.emulator() if use_emulator else FoxClient()
    except (ValueError, FoxAPIError) as error:
        display(HTML(_error_html(error)))
        return None
    cache = VideoCache()
    handle: Any = display(HTML("<div>submitting…</div>"), display_id=True)
    task: Task | None = None
    downloading = False
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
                handle.update(HTML(f"<pre>{_safe(text)}</pre>"))
                return None
            downloading = True
            path = client.download(task, cache.path_for(task.id))
    except FoxAPIError as error:
        handle.update(HTML(_error_html(error)))
        return None
    except KeyboardInterrupt as error:
        # Say what happened to the money, then stop Run All. The note above says it all: the
        # interrupt raised on carries no text of its own, so the traceback does not repeat it.
        handle.update(HTML(_interrupted_html(error, task, downloading)))
        raise KeyboardInterrupt("%%kling was interrupted; the note above says what became of the task.") from None
    cache.evict(protect=[path])
    from ._poster import poster_data_url

    handle.update(HTML(f"<div>done: <code>{_safe(task.id)}</code> ({'emulator' if use_emulator else 'live'})</div>"))
    return VideoDisplay(path, poster=poster_data_url(path), caption=request.prompt[:120])


def register(ipython: Any) -> None:
    """Register ``%%kling`` with an IPython shell."""
    ipython.register_magic_function(kling, magic_kind="cell", magic_name="kling")
