"""Rebuilding a studio's cards from the task journal when a new kernel builds a new studio.

Unfinished tasks are followed again (polled and downloaded), however many newer ones there are;
finished ones show from their local file; ones whose result URL expired before the download say
so; unfinished voices get a card.
Only this API host's journal is read, and only the last 24 hours (older results have expired).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ._controller import Controller, Generation
from ._journal import RESULT_LIFETIME
from ._status import PROVIDER_FAILURES, TERMINAL, TaskStatus
from ._types import VideoRequest
from ._validation import MODEL_CREATE_VOICE
from ._voice_panel import voice_name_from_url

__all__ = ["RESTORE_LIMIT", "RESTORED_NOTE", "restore_from_journal"]

logger = logging.getLogger("foxkling_widgets")

RESTORE_LIMIT = 20  # the newest journaled tasks a new studio shows
RESTORED_NOTE = "Restored from the task journal."


def restore_from_journal(controller: Controller, limit: int = RESTORE_LIMIT) -> None:
    """Show the journal's recent tasks for the controller's API host, oldest first (so newest on top).

    The newest ``limit``, and every older one that is still to be followed (unfinished, result
    not expired): a kernel that restarted while more than ``limit`` clips ran must not leave the
    oldest, which started first and are billed like the rest, unfollowed and out of sight.
    """
    client = controller.client
    entries = client.history(limit)
    shown = {entry.task_id for entry in entries}
    unfinished = client.journaled("reading unfinished tasks", lambda j: j.unfinished(base_url=client.journal_host))
    entries += [e for e in unfinished or [] if e.task_id not in shown and not e.expired]  # older: newest first too
    membership = client.journaled("reading batches", lambda j: j.batches()) or {}
    for entry in reversed(entries):
        try:
            _restore_entry(controller, entry, membership)
        except Exception as error:  # noqa: BLE001 - one odd journal row must never stop the widget
            logger.warning("could not restore task %s from the journal: %s", entry.task_id, error)


def _status_of(text: str) -> TaskStatus:
    """A journaled status as a member: its own word, or the provider word it stands for."""
    try:
        return TaskStatus(text)
    except ValueError:
        return TaskStatus.parse(text)


def _restore_entry(controller: Controller, entry: Any, membership: dict[str, dict[str, Any]]) -> None:
    """Show one journaled task: from its file, as failed or expired, or followed again."""
    status = _status_of(entry.status)
    if entry.expired and entry.local_path is None and status not in PROVIDER_FAILURES:
        status = TaskStatus.EXPIRED
    if entry.age > RESULT_LIFETIME and status != TaskStatus.EXPIRED:  # older work cannot be fetched
        return
    if entry.request.get("model") == MODEL_CREATE_VOICE:
        _restore_voice(controller, entry)
        return
    generation = Generation(
        VideoRequest.from_payload(entry.request),
        id=entry.task_id,
        status=status,
        progress=entry.progress,
        task=entry.to_task(),
        submitted_at=entry.created * 1000,
        error=entry.error,
        note=RESTORED_NOTE,
        restored=True,
        batch=membership.get(entry.task_id),
    )
    local = Path(entry.local_path) if entry.local_path else None
    if local is not None and local.exists():
        from ._poster import poster_data_url

        generation.path, generation.status, generation.progress = local, TaskStatus.COMPLETED, 100.0
        generation.poster, generation.watching = poster_data_url(local), False
        controller.add_finished(generation)
    elif status == TaskStatus.EXPIRED:
        # Shown as failed, with the reason: nothing more can come of it.
        generation.watching, generation.status = False, TaskStatus.FAILED
        generation.error = {
            "code": "result_expired",
            "message": "The result URL expired (24 hours) before the video was downloaded.",
            "hint": "Generate the clip again.",
        }
        controller.add_finished(generation)
    elif status in PROVIDER_FAILURES:
        generation.watching = False
        controller.add_finished(generation)
    else:
        controller.resume(generation)


def _restore_voice(controller: Controller, entry: Any) -> None:
    # Only an unfinished voice needs a card: finished ones are chips already (the journal's voices).
    if entry.status in TERMINAL or entry.expired:
        return
    url = str(entry.request.get("voice_url", ""))
    recorded = controller.client.journaled("reading a voice name", lambda j: j.voice_name(entry.task_id))
    name = recorded or voice_name_from_url(url)
    generation = Generation(
        None,
        id=entry.task_id,
        status=_status_of(entry.status),
        progress=entry.progress,
        task=entry.to_task(),
        submitted_at=entry.created * 1000,
        note=RESTORED_NOTE,
        restored=True,
        voice={"url": url, "name": name, "voice_id": None},
    )
    controller.resume(generation)
