"""Answering a view's ``video-request``: a direct URL, or a header and then acknowledged chunks.

One :class:`VideoTransfers` per widget keeps the transfers in flight (all views together), by
request id, at most :data:`MAX_TRANSFERS` at once; each is a :class:`~._transport.ChunkSender`,
sent in turns with the widget's other transfers by its one scheduler, and removes itself
when it ends. How the bytes travel and why is ``_transport.py``'s docstring; which path each host
takes is the README's host table.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Final

from . import _fragment, _remux, _transport
from ._cache import VideoCache
from ._controller import Generation

__all__ = ["FMP4", "MAX_TRANSFERS", "VideoTransfers"]

#: The ``container`` a view with Media Source Extensions asks for (docs/widget-protocol.md).
FMP4: Final = "fmp4"
MAX_TRANSFERS: Final = 16  # videos loading at once per widget (all views): each holds a file and a thread

#: ``reply(message, buffers, **fields)``: the widget's answer to ``message``.
Reply = Callable[..., None]


class VideoTransfers:
    """The video transfers of one widget. Thread-safe: acks arrive on the kernel's thread."""

    def __init__(self, send: _transport.Send, reply: Reply, cache: Callable[[], VideoCache]) -> None:
        self._send = send
        self._reply = reply
        self._cache = cache  # read per request: the controller's cache
        self._lock = threading.Lock()
        self._senders: dict[str, _transport.ChunkSender] = {}
        # One sender thread for all of this widget's transfers (every view), in turns: a gallery's
        # clips share it, so each clip's first fragment goes before any clip's second.
        self._scheduler = _transport.SendScheduler()

    def __len__(self) -> int:
        with self._lock:
            return len(self._senders)

    def request(self, message: dict[str, Any], generation: Generation | None, mode: str) -> None:
        """Answer a ``video-request`` for ``generation`` (``None``: not known here).

        The answer (``video-response``) says how many bytes and chunks follow; the chunks come
        from a :class:`~._transport.ChunkSender`, at most ``WINDOW`` ahead of the view's acks.
        The file is opened here and read one chunk at a time, never whole.
        """
        task_id = message.get("task_id")
        if generation is not None and (generation.path is None or not generation.path.exists()):
            # Still downloading (or not yet): a live task's provider URL plays already.
            url = generation.direct_url(mode) if message.get("direct") is True else None
            if url is not None:
                name = generation.download_name()
                self._reply(message, ok=True, task_id=generation.key, mime="video/mp4", name=name, url=url)
                return
        if generation is None or generation.path is None or not generation.path.exists():
            self._reply(message, ok=False, task_id=task_id, error="no video for this task in this kernel")
            return
        name = generation.download_name()
        path = generation.path
        cache = self._cache()
        if message.get("audio") == "mp3":
            # The view's player cannot decode AAC (VS Code: microsoft/vscode#162062): send a copy
            # with MP3 audio. Made on this thread, once per clip (~0.4 s for a 10 s clip, 100 MB
            # or 180 KB alike: the video is copied, only the audio is transcoded), then reused.
            path = _remux.mp3_copy(path)
        if message.get("direct") is True and path == generation.path:
            # Not when a copy is sent: the provider's file has the AAC audio this view cannot play.
            url = _transport.direct_play_url(generation.task, mode)
            if url is not None:
                cache.touch(generation.path)
                self._reply(message, ok=True, task_id=generation.key, mime="video/mp4", name=name, url=url)
                return
        encoding: _transport.Encoding = _transport.BASE64 if message.get("encoding") == _transport.BASE64 else "binary"
        transfer_id = str(message["id"])  # the dispatcher has checked it
        with self._lock:
            old = self._senders.pop(transfer_id, None)
            busy = len(self._senders) >= MAX_TRANSFERS
        if old is not None:
            old.cancel()  # the same id again: the view started over
        if busy:
            self._reply(
                message, ok=False, task_id=generation.key, error=f"{MAX_TRANSFERS} other videos are loading already"
            )
            return
        # Progressive playback: a view with Media Source Extensions asks for fragmented MP4, made
        # while it is sent (_fragment.py). Not for an MP3 copy (VS Code's path keeps its file).
        fragmented = message.get("container") == FMP4 and path == generation.path
        mime = _fragment.fmp4_mime(path) if fragmented else None
        file = path.open("rb", buffering=0)  # unbuffered: each read is one chunk, no copy
        try:
            total = os.fstat(file.fileno()).st_size
            cache.touch(generation.path)  # recently shown: last to be evicted
            if path != generation.path:
                cache.touch(path)  # after the original: mp3_copy reuses a copy no older

            def done(_outcome: str) -> None:
                with self._lock:
                    if self._senders.get(transfer_id) is sender:
                        del self._senders[transfer_id]

            chunk_size = _transport.chunk_size_for(encoding, fragmented=mime is not None)
            if mime is not None:
                file.close()  # the stream opens the file itself
                stream = _fragment.fmp4_chunks(path, chunk_size)
                sender = _transport.ChunkSender(
                    transfer_id=transfer_id,
                    task_id=generation.key,
                    stream=stream,
                    send=self._send,
                    encoding=encoding,
                    chunk_size=chunk_size,
                    on_done=done,
                )
            else:
                sender = _transport.ChunkSender(
                    transfer_id=transfer_id,
                    task_id=generation.key,
                    file=file,
                    total=total,
                    send=self._send,
                    encoding=encoding,
                    chunk_size=chunk_size,
                    on_done=done,
                )
            with self._lock:
                self._senders[transfer_id] = sender
            # The header first: it goes out before the sender's first chunk (IOPub keeps order).
            # A stream's size and chunk count are known at its last chunk; until then the
            # original's size is its estimate (the packets are the same, only the boxes differ).
            layout = {"container": FMP4, "estimate": total} if mime else {"total": total, "chunks": sender.chunks}
            self._reply(
                message,
                ok=True,
                task_id=generation.key,
                mime=mime or "video/mp4",
                name=name,
                chunk_size=sender.chunk_size,
                window=sender.window,
                encoding=encoding,
                **layout,
            )
        except BaseException:
            file.close()
            with self._lock:
                self._senders.pop(transfer_id, None)
            raise
        sender.start(self._scheduler)

    def ack(self, message: dict[str, Any]) -> None:
        """Answer a ``video-ack``: the view has chunk ``index`` of transfer ``transfer``."""
        transfer, index = message.get("transfer"), message.get("index")
        with self._lock:
            sender = self._senders.get(transfer) if isinstance(transfer, str) else None
        if sender is None or not isinstance(index, int) or isinstance(index, bool):
            # Late acks after a transfer ended are normal (the last ones, or after a cancel).
            self._reply(message, ok=False, error="no such video transfer (it ended or was cancelled)")
            return
        self._reply(message, ok=sender.ack(index))

    def cancel(self, transfer: Any) -> bool:
        """Stop sending transfer ``transfer``; returns whether it was in flight."""
        with self._lock:
            sender = self._senders.pop(transfer, None) if isinstance(transfer, str) else None
        if sender is not None:
            sender.cancel()
        return sender is not None

    def close(self) -> None:
        """Cancel every transfer (the widget is closing)."""
        with self._lock:
            senders, self._senders = list(self._senders.values()), {}
        for sender in senders:
            sender.cancel()
