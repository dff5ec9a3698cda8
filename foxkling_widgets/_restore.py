"""Rebuilding a studio's cards from the task journal when a new kernel builds a new studio.

Unfinished tasks are followed again (polled and downloaded); finished ones show from their local
file; ones whose result URL expired before the download say so; unfinished voices get a card.
Only this API host's journal is read, and only the last 24 hours (older results have expired).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ._controller import Controller, Generation
from ._types import VideoRequest
from ._validation import MODEL_CREATE_VOICE
from ._voice_panel import voice_name_from_url

__all__ = ["RESTORE_LIMIT", "RESTORED_NOTE", "restore_from_journal"]

logger = logging.getLogger("foxkling_widgets")

RESTORE_LIMIT = 20  # the newest journaled tasks a new studio shows
MAX_AGE_S = 24 * 3600  # FoxAPI result URLs last 24 hours: older unfinished work cannot be fetched
RESTORED_NOTE = "Restored from the task journal."


def restore_from_journal(controller: Controller, limit: int = RESTORE_LIMIT) -> None:
    """Show the journal's recent tasks for the controller's API host, oldest first (so newest on top)."""
    client = controller.client
    entries = client.history(limit)
    membership = client.journaled("reading batches", lambda j: j.batches()) or {}
    for entry in reversed(entries):
        try:
            _restore_entry(controller, entry, membership)
        except Exception as error:  # noqa: BLE001 - one odd journal row must never stop the widget
            logger.warning("could not restore task %s from the journal: %s", entry.task_id, error)


def _restore_entry(controller: Controller, entry: Any, membership: dict[str, dict[str, Any]]) -> None:
    """Show one journaled task: from its file, as failed or expired, or followed again."""
    if entry.expired and entry.local_path is None and entry.status not in ("failed", "cancelled"):
        status = "expired"
    else:
        status = entry.status
    if entry.age > MAX_AGE_S and status != "expired":
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

        generation.path, generation.status, generation.progress = local, "completed", 100.0
        generation.poster, generation.watching = poster_data_url(local), False
        controller.add_finished(generation)
    elif status == "expired":
        generation.watching, generation.status = False, "failed"
        generation.error = {
            "code": "result_expired",
            "message": "The result URL expired (24 hours) before the video was downloaded.",
            "hint": "Generate the clip again.",
        }
        controller.add_finished(generation)
    elif status in ("failed", "cancelled"):
        generation.watching = False
        controller.add_finished(generation)
    else:
        controller.resume(generation)


def _restore_voice(controller: Controller, entry: Any) -> None:
    # Only an unfinished voice needs a card: finished ones are chips already (the journal's voices).
    if entry.status in ("completed", "failed", "cancelled") or entry.expired:
        return
    url = str(entry.request.get("voice_url", ""))
    recorded = controller.client.journaled("reading a voice name", lambda j: j.voice_name(entry.task_id))
    name = recorded or voice_name_from_url(url)
    generation = Generation(
        None,
        id=entry.task_id,
        status=entry.status,
        progress=entry.progress,
        task=entry.to_task(),
        submitted_at=entry.created * 1000,
        note=RESTORED_NOTE,
        restored=True,
        voice={"url": url, "name": name, "voice_id": None},
    )
    controller.resume(generation)
