"""Video bytes to the front end in acknowledged chunks, read from disk one chunk at a time.

One :class:`ChunkSender` per ``video-request`` of a view. It reads chunk *k* of the file at its
offset, sends it as a ``video-chunk`` message (the bytes as ``buffers[0]``, or base64 text in the
content for a view whose host drops binary buffers), and never runs more than ``window``
chunks ahead of the front end's ``video-ack``. So no process on the way (kernel, Jupyter
server, a host's webview bridge) holds a whole clip because of the transport: the kernel holds
at most ``window`` chunks, and a stalled or vanished view holds nothing after ``idle_timeout``.

Why chunks and a window (docs/widget-protocol.md, "Video transport"): one buffer per clip cost
the Jupyter server 3-4x the file, VS Code's extension turns a binary frame into a JSON array of
numbers (~3.4x), and Colab's widget manager drops binary buffers altogether
(googlecolab/colab-cdn-widget-manager#33).

The sender runs on a thread of its own: it waits for acks, which arrive as comm messages on
the kernel's main thread, so waiting there would deadlock. ipykernel sends IOPub messages from
any thread (the controller's loop thread publishes the task cards the same way).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, Final, Literal

__all__ = [
    "BASE64",
    "BINARY",
    "CHUNK_SIZE",
    "DIRECT_URL_LIFETIME_S",
    "IDLE_TIMEOUT_S",
    "PROBE_BYTES",
    "VIDEO_CHUNK",
    "VIDEO_ERROR",
    "WINDOW",
    "ChunkSender",
    "Encoding",
    "chunk_count",
    "chunk_size_for",
    "direct_play_url",
]

logger = logging.getLogger("foxkling_widgets")

#: Bytes per ``video-chunk``: small enough that no hop holds much (VS Code's bridge makes a
#: JSON array of ~3.4x this), big enough that a 100 MB clip is only 50 messages.
CHUNK_SIZE: Final = 2 * 1024 * 1024
#: Chunks sent but not yet acknowledged, at most. Two would leave the pipe idle for a round trip
#: after each ack; more only holds more bytes in the Jupyter server and the browser.
WINDOW: Final = 3
#: A transfer with no ack for this long gives up (the view went away, or its host stalled).
IDLE_TIMEOUT_S: Final = 60.0
#: The probe's known buffer: a view whose probe answer lacks these bytes asks for base64.
PROBE_BYTES: Final = b"FK\x00\xff"

Encoding = Literal["binary", "base64"]
BINARY: Final = "binary"
BASE64: Final = "base64"

# Message kinds of the transport: keep in sync with js/src/protocol.js and docs/widget-protocol.md.
VIDEO_CHUNK: Final = "video-chunk"
VIDEO_ERROR: Final = "video-error"

#: ``send(content, buffers)``: the widget's ``send``.
Send = Callable[[dict[str, Any], "list[bytes] | None"], None]


def chunk_size_for(encoding: Encoding) -> int:
    """Bytes per chunk for ``encoding``: ``CHUNK_SIZE``, halved for base64.

    Why halved: base64 text is 4/3 of the bytes, and the kernel holds it twice more while the
    message is JSON-encoded and queued, so a full-size text chunk would put a send's memory over
    16 MB (measured: ~18 MB at 100 MB). Half keeps each text message near 1.4 MB.
    """
    return CHUNK_SIZE // 2 if encoding == BASE64 else CHUNK_SIZE


def chunk_count(total: int, chunk_size: int = CHUNK_SIZE) -> int:
    """How many chunks a file of ``total`` bytes takes (an empty file is one empty chunk)."""
    return max(1, -(-total // chunk_size))


class ChunkSender:
    """Sends one file to one view in acknowledged chunks (see the module docstring).

    ``file`` is an open binary file positioned anywhere: each chunk is read at its own offset,
    never the whole file. ``run()`` does the sending (call it on a thread of its own, or use
    :meth:`start`); :meth:`ack` and :meth:`cancel` are called from the kernel's main thread.
    ``on_done`` is called once, with why the transfer ended: ``"complete"``, ``"cancelled"``,
    ``"timeout"`` or ``"error"``.
    """

    def __init__(
        self,
        *,
        transfer_id: str,
        task_id: str,
        file: BinaryIO,
        total: int,
        send: Send,
        encoding: Encoding = BINARY,
        chunk_size: int = CHUNK_SIZE,
        window: int = WINDOW,
        idle_timeout: float = IDLE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        if chunk_size < 1 or window < 1:
            raise ValueError("chunk_size and window must be at least 1")
        self.transfer_id = transfer_id
        self.task_id = task_id
        self.total = total
        self.encoding: Encoding = encoding
        self.chunk_size = chunk_size
        self.window = window
        self.idle_timeout = idle_timeout
        self.chunks = chunk_count(total, chunk_size)
        self._file = file
        self._send = send
        self._clock = clock
        self._on_done = on_done
        self._cond = threading.Condition()
        self._acked: set[int] = set()
        self._contiguous = 0  # chunks 0 .. _contiguous-1 are all acknowledged
        self._next = 0  # the next chunk to send
        self._cancelled = False
        self._deadline = clock() + idle_timeout
        self.outcome: str | None = None
        self._thread: threading.Thread | None = None

    # -- called from the kernel's main thread ---------------------------------------------------
    def start(self) -> None:
        """Send on a daemon thread of its own (a kernel shutting down does not wait for it).

        Never raises: the request's answer (this transfer's header) has gone out already, so a
        thread that cannot start (a process out of threads) is told to the view as this
        transfer's ``video-error``, not as a second answer to its request.
        """
        thread = threading.Thread(target=self.run, name=f"foxkling-video-{self.task_id}", daemon=True)
        try:
            thread.start()
        except RuntimeError as error:
            logger.error("sending video %s could not start: %s", self.task_id, error)
            self.outcome = "error"
            self._fail("the kernel could not start sending it (no thread for it; see the kernel's log)")
            with contextlib.suppress(OSError):
                self._file.close()
            if self._on_done is not None:
                self._on_done("error")
            return
        self._thread = thread

    def ack(self, index: int) -> bool:
        """The front end has chunk ``index``. False for an index that was never sent."""
        with self._cond:
            if not 0 <= index < self._next:
                return False
            self._acked.add(index)
            while self._contiguous in self._acked:
                self._acked.discard(self._contiguous)
                self._contiguous += 1
            self._deadline = self._clock() + self.idle_timeout
            self._cond.notify_all()
            return True

    def cancel(self) -> None:
        """Stop sending (the view went away, or asked for the video another way)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the sending thread (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def acknowledged(self) -> int:
        """How many chunks from the first on the front end has acknowledged."""
        with self._cond:
            return self._contiguous

    @property
    def sent(self) -> int:
        """How many chunks have been sent so far."""
        with self._cond:
            return self._next

    # -- the sending thread ----------------------------------------------------------------------
    def run(self) -> None:
        """Send every chunk, keeping at most ``window`` unacknowledged; return when all are acked."""
        outcome = "error"
        try:
            outcome = self._run()
        except Exception as error:  # noqa: BLE001  (a thread's error must reach the view, not vanish)
            logger.error("sending video %s failed: %s: %s", self.task_id, type(error).__name__, error)
            self._fail(f"the kernel could not read or send it ({type(error).__name__}; see the kernel's log)")
        finally:
            self.outcome = outcome
            with contextlib.suppress(OSError):
                self._file.close()
            if self._on_done is not None:
                self._on_done(outcome)

    def _run(self) -> str:
        while True:
            with self._cond:
                while not self._cancelled and self._blocked():
                    remaining = self._deadline - self._clock()
                    if remaining <= 0:
                        return self._timed_out()
                    self._cond.wait(remaining)
                if self._cancelled:
                    return "cancelled"
                if self._next >= self.chunks:
                    return "complete"  # every chunk sent and acknowledged
                index = self._next
            self._send_chunk(index)  # outside the lock: acks may arrive meanwhile
            with self._cond:
                self._next = index + 1

    def _blocked(self) -> bool:
        # Waiting for acks: the window is full, or everything is sent but not all acknowledged.
        if self._next >= self.chunks:
            return self._contiguous < self.chunks
        return self._next >= self._contiguous + self.window

    def _timed_out(self) -> str:
        if self._next >= self.chunks:
            # Everything went out; only the last acks are missing (the view may be gone). Nothing to say.
            logger.debug("video %s: the last acks never came", self.task_id)
            return "timeout"
        seconds = f"{self.idle_timeout:g}"
        logger.warning("video %s: no ack for %s s after chunk %d of %d", self.task_id, seconds, self._next, self.chunks)
        # A reason, not a sentence: the front end says "The video could not be loaded: <reason>. Press Retry…".
        self._fail(f"the page did not confirm a part for {seconds} s, so the kernel stopped sending it")
        return "timeout"

    def _fail(self, error: str) -> None:
        with contextlib.suppress(Exception):  # a closed comm: nobody is listening any more
            self._send(
                {"id": self.transfer_id, "kind": VIDEO_ERROR, "task_id": self.task_id, "ok": False, "error": error},
                None,
            )

    def _send_chunk(self, index: int) -> None:
        offset = index * self.chunk_size
        size = min(self.chunk_size, max(0, self.total - offset))
        self._file.seek(offset)
        data = self._file.read(size) if size else b""
        if len(data) != size:
            raise OSError(f"chunk {index}: read {len(data)} of {size} bytes (the file changed)")
        content: dict[str, Any] = {
            "id": self.transfer_id,
            "kind": VIDEO_CHUNK,
            "task_id": self.task_id,
            "index": index,
            "offset": offset,
            "size": size,
            "total": self.total,
            "encoding": self.encoding,
            "last": index == self.chunks - 1,
        }
        if self.encoding == BASE64:
            content["data"] = base64.b64encode(data).decode("ascii")
            del data  # only the text from here on
            self._send(content, None)
        else:
            self._send(content, [data])


#: A provider URL is played directly only while it has at least this long left (the contract's
#: 24 hours, less an hour so it does not expire mid-view).
DIRECT_URL_LIFETIME_S: Final = 23 * 3600


def direct_play_url(task: Any, mode: str, now: float | None = None) -> str | None:
    """The provider's https URL when the browser may play it itself, else ``None``.

    Why: a live task's result URL serves the same file straight to the browser, so the view
    need not pull it through the kernel at all (no chunks, no comm traffic); the kernel still
    downloads it for durability and for playback after the URL expires. Only for the live API:
    the emulator's loopback URLs are not reachable from a browser on another machine (a remote
    Jupyter server, Colab, Codespaces). Only while the URL is surely valid (the contract:
    result URLs expire after 24 hours): a task without a creation time never qualifies. The
    front end accepts only http(s)/blob sources (``isSafeVideoSrc``) and falls back to chunks
    if the browser cannot play the URL.
    """
    from urllib.parse import urlsplit

    if mode != "live" or task is None:
        return None
    url = getattr(task, "video_url", None)
    created = getattr(task, "created", None)
    if not isinstance(url, str) or not url.startswith("https://") or not isinstance(created, int):
        return None
    host = (urlsplit(url).hostname or "").lower()
    if not host or host == "localhost" or host.endswith(".localhost") or _is_local_address(host):
        return None
    age = (time.time() if now is None else now) - created
    return url if -300 <= age < DIRECT_URL_LIFETIME_S else None  # a few minutes of clock skew


def _is_local_address(host: str) -> bool:
    """A literal IP address a browser elsewhere could not reach (loopback, private, link-local)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: the provider's CDN
    return address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified
