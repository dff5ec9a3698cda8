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

Every transfer of a widget (all its views) is sent by its one :class:`SendScheduler` thread,
in turns (its docstring says why and in which order). It runs off the kernel's main thread because acks
arrive there as comm messages, so waiting there would deadlock. ipykernel sends IOPub
messages from any thread (the controller's loop thread publishes the task cards the same way).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
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
    "SLOW_START",
    "ChunkSender",
    "Encoding",
    "SendScheduler",
    "chunk_count",
    "chunk_size_for",
    "direct_play_url",
    "shared_scheduler",
]

logger = logging.getLogger("foxkling_widgets")

#: Bytes per ``video-chunk``: small enough that no hop holds much (VS Code's bridge makes a
#: JSON array of ~3.4x this), big enough that a 100 MB clip is only 50 messages.
CHUNK_SIZE: Final = 2 * 1024 * 1024
#: Chunks sent but not yet acknowledged, at most. Two would leave the pipe idle for a round trip
#: after each ack; more only holds more bytes in the Jupyter server and the browser.
WINDOW: Final = 3
#: Chunks each transfer sends before any transfer sends more (the scheduler's slow start): one is
#: a fragmented clip's init segment and first fragment, all its first frame needs.
SLOW_START: Final = 1
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


def chunk_size_for(encoding: Encoding, fragmented: bool = False) -> int:
    """Bytes per chunk for ``encoding``: ``CHUNK_SIZE``, halved for base64 or a fragmented stream.

    Why halved for base64: base64 text is 4/3 of the bytes, and the kernel holds it twice more
    while the message is JSON-encoded and queued, so a full-size text chunk would put a send's
    memory over 16 MB (measured: ~18 MB at 100 MB). Half keeps each text message near 1.4 MB.
    Why halved for a fragmented stream (``_fragment.py``): the remux's own buffers sit beside the
    window, and with full-size chunks one 77 MB send was seen at +19.4 MB in the kernel and
    another at +17.8 MB in the server. Both halvings apply together (a quarter) for base64 streams.
    """
    size = CHUNK_SIZE // 2 if encoding == BASE64 else CHUNK_SIZE
    return size // 2 if fragmented else size


def chunk_count(total: int, chunk_size: int = CHUNK_SIZE) -> int:
    """How many chunks a file of ``total`` bytes takes (an empty file is one empty chunk)."""
    return max(1, -(-total // chunk_size))


class ChunkSender:
    """Sends one file to one view in acknowledged chunks (see the module docstring).

    ``file`` is an open binary file positioned anywhere: each chunk is read at its own offset,
    never the whole file. Or ``stream``: chunks ``(bytes, last)`` made while sending (a fragmented
    copy, ``_fragment.py``), of sizes and a count known only as they come (``total`` is then
    ``None`` until the last one). :meth:`start` hands the sender to a :class:`SendScheduler`
    (``run()`` sends it on the calling thread instead: tests); :meth:`ack` and :meth:`cancel`
    are called from the kernel's main thread. ``on_done`` is called once, with why the transfer
    ended: ``"complete"``, ``"cancelled"``, ``"timeout"`` or ``"error"``.
    """

    def __init__(
        self,
        *,
        transfer_id: str,
        task_id: str,
        file: BinaryIO | None = None,
        total: int | None = None,
        send: Send,
        stream: Iterator[tuple[bytes, bool]] | None = None,
        encoding: Encoding = BINARY,
        chunk_size: int = CHUNK_SIZE,
        window: int = WINDOW,
        idle_timeout: float = IDLE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        if chunk_size < 1 or window < 1:
            raise ValueError("chunk_size and window must be at least 1")
        if (file is None) == (stream is None) or (file is not None and total is None):
            raise ValueError("give a file and its total, or a stream")
        self.transfer_id = transfer_id
        self.task_id = task_id
        self.total = total
        self.encoding: Encoding = encoding
        self.chunk_size = chunk_size
        self.window = window
        self.idle_timeout = idle_timeout
        #: How many chunks: known up front for a file, after the last one for a stream (``None``).
        self.chunks: int | None = chunk_count(total, chunk_size) if file is not None and total is not None else None
        self._file = file
        self._stream = stream
        self._streamed = 0  # bytes of the stream sent so far (its next chunk's offset)
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
        self._scheduler: SendScheduler | None = None
        self._ended = False  # finish() has run (under _cond, which join waits on)

    # -- called from the kernel's main thread ---------------------------------------------------
    def start(self, scheduler: SendScheduler | None = None, *, thread: bool = True) -> None:
        """Send on ``scheduler``'s thread (the widget's; by default the process's), in turns.

        Never raises: the request's answer (this transfer's header) has gone out already, so a
        scheduler thread that cannot start (a process out of threads) is told to the view as this
        transfer's ``video-error``, not as a second answer to its request.
        """
        self._scheduler = scheduler if scheduler is not None else shared_scheduler()
        self._scheduler.add(self, thread=thread)

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
        self._wake()
        return True

    def cancel(self) -> None:
        """Stop sending (the view went away, or asked for the video another way)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()
        self._wake()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the transfer has ended (tests)."""
        with self._cond:
            self._cond.wait_for(lambda: self._ended, timeout)

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

    # -- the scheduler's side ---------------------------------------------------------------------
    def _wake(self) -> None:
        if self._scheduler is not None:
            self._scheduler.wake()

    def ready(self) -> bool:
        """A chunk may go now: not cancelled, chunks left, and room in the window."""
        with self._cond:
            return not self._cancelled and not self._blocked() and not self._all_sent()

    def ending(self, now: float) -> str | None:
        """Why the transfer is over, if it is: cancelled, complete, or no ack before the deadline."""
        with self._cond:
            if self._cancelled:
                return "cancelled"
            if self._all_sent() and self._contiguous >= self._next:
                return "complete"  # every chunk sent and acknowledged
            if self._blocked() and now >= self._deadline:
                return "timeout"
            return None

    def deadline(self) -> float:
        with self._cond:
            return self._deadline

    def step(self) -> None:
        """Send the next chunk (on the scheduler's thread; acks may arrive meanwhile)."""
        with self._cond:
            index = self._next
        self._send_chunk(index)
        with self._cond:
            self._next = index + 1
            # The idle clock runs from the last chunk or ack: a turn may come late when many share.
            self._deadline = max(self._deadline, self._clock() + self.idle_timeout)

    def finish(self, outcome: str, error: BaseException | None = None, reason: str | None = None) -> None:
        """End the transfer once: say so on a timeout or ``error``, close the file, call ``on_done``."""
        try:
            if outcome == "timeout":
                self._timed_out()
            elif error is not None:
                logger.error("sending video %s failed: %s: %s", self.task_id, type(error).__name__, error)
                kind = type(error).__name__
                self._fail(reason or f"the kernel could not read or send it ({kind}; see the kernel's log)")
        finally:
            self.outcome = outcome
            with contextlib.suppress(Exception):
                if self._file is not None:
                    self._file.close()
                close = getattr(self._stream, "close", None)
                if close is not None:
                    close()  # a generator: its files close now
            try:
                if self._on_done is not None:
                    self._on_done(outcome)
            finally:
                with self._cond:
                    self._ended = True
                    self._cond.notify_all()

    def run(self) -> None:
        """Send every chunk on this thread alone, keeping at most ``window`` unacknowledged."""
        try:
            while (outcome := self._wait_until_ready()) == "":
                self.step()
        except Exception as error:  # noqa: BLE001  (the error must reach the view, not vanish)
            self.finish("error", error)
            return
        self.finish(outcome)

    def _wait_until_ready(self) -> str:
        with self._cond:
            while True:
                ended = self.ending(self._clock())
                if ended is not None:
                    return ended
                if not self._blocked():
                    return ""
                self._cond.wait(max(0.0, self._deadline - self._clock()))

    def _all_sent(self) -> bool:
        return self.chunks is not None and self._next >= self.chunks

    def _blocked(self) -> bool:
        # Waiting for acks: the window is full, or everything is sent but not all acknowledged.
        if self._all_sent():
            return self._contiguous < self._next
        return self._next >= self._contiguous + self.window

    def _timed_out(self) -> None:
        if self._all_sent():
            # Everything went out; only the last acks are missing (the view may be gone). Nothing to say.
            logger.debug("video %s: the last acks never came", self.task_id)
            return
        seconds = f"{self.idle_timeout:g}"
        logger.warning("video %s: no ack for %s s after chunk %d of %s", self.task_id, seconds, self._next, self.chunks)
        # A reason, not a sentence: the front end says "The video could not be loaded: <reason>. Press Retry…".
        self._fail(f"the page did not confirm a part for {seconds} s, so the kernel stopped sending it")

    def _fail(self, error: str) -> None:
        with contextlib.suppress(Exception):  # a closed comm: nobody is listening any more
            self._send(
                {"id": self.transfer_id, "kind": VIDEO_ERROR, "task_id": self.task_id, "ok": False, "error": error},
                None,
            )

    def _read(self, index: int) -> tuple[bytes, int, bool]:
        """Chunk ``index``'s bytes, offset, and whether it is the last."""
        if self._stream is not None:
            data, last = next(self._stream, (b"", True))  # an empty stream: one empty last chunk
            offset = self._streamed
            self._streamed += len(data)
            if last:
                with self._cond:
                    self.chunks, self.total = index + 1, self._streamed
            return data, offset, last
        assert self._file is not None and self.total is not None and self.chunks is not None
        offset = index * self.chunk_size
        size = min(self.chunk_size, max(0, self.total - offset))
        self._file.seek(offset)
        data = self._file.read(size) if size else b""
        if len(data) != size:
            raise OSError(f"chunk {index}: read {len(data)} of {size} bytes (the file changed)")
        return data, offset, index == self.chunks - 1

    def _send_chunk(self, index: int) -> None:
        data, offset, last = self._read(index)
        content: dict[str, Any] = {
            "id": self.transfer_id,
            "kind": VIDEO_CHUNK,
            "task_id": self.task_id,
            "index": index,
            "offset": offset,
            "size": len(data),
            "total": self.total,  # None for a stream until its last chunk
            "encoding": self.encoding,
            "last": last,
        }
        if self.encoding == BASE64:
            content["data"] = base64.b64encode(data).decode("ascii")
            del data  # only the text from here on
            self._send(content, None)
        else:
            self._send(content, [data])


class SendScheduler:
    """One thread that sends the chunks of every transfer it is given (a widget's), in turns.

    Why one thread for all (not one per transfer): transfers on their own threads race for the
    comm, and the clip whose thread happens to win fills the pipe, so a gallery of four showed its
    first frames one clip after another (4.6x the time of one). Here each turn sends one chunk of
    the next transfer that has room in its window, round-robin, with a slow start: a transfer that
    has sent fewer than ``slow_start`` chunks goes before any that has sent more. A fragmented
    clip's first chunk is its init segment and first fragment (``_fragment.py``), so every clip's
    first frame leaves before any clip's second second. Acks still pace each transfer (its window),
    and the thread sleeps while every transfer waits for acks.
    """

    def __init__(self, slow_start: int = SLOW_START, clock: Callable[[], float] = time.monotonic) -> None:
        self.slow_start = slow_start
        self._clock = clock
        self._cond = threading.Condition()
        self._senders: list[ChunkSender] = []
        self._turn = 0  # where the round-robin looks first
        self._thread: threading.Thread | None = None

    def add(self, sender: ChunkSender, *, thread: bool = True) -> None:
        """Serve ``sender`` from now on (``thread=False``: only :meth:`drain` sends, for tests).

        The thread starts with the first transfer and ends when none is left. If it cannot start
        (a process out of threads), ``sender`` ends at once in a ``video-error``.
        """
        with self._cond:
            self._senders.append(sender)
            self._cond.notify_all()
            if not thread or self._thread is not None:
                return
            # A daemon: a kernel shutting down does not wait for it.
            started = threading.Thread(target=self._loop, name="foxkling-video-sender", daemon=True)
            try:
                started.start()
            except RuntimeError as error:
                self._senders.remove(sender)
                failure: RuntimeError | None = error
            else:
                self._thread, failure = started, None
        if failure is not None:
            why = "the kernel could not start sending it (no thread for it; see the kernel's log)"
            sender.finish("error", failure, why)

    def wake(self) -> None:
        """Something changed (an ack, a cancel): look again."""
        with self._cond:
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._senders)

    def next_turn(self) -> tuple[ChunkSender | None, list[tuple[ChunkSender, str]]]:
        """The sender whose chunk goes next (or ``None``), and the senders that have ended, removed.

        Deterministic, for tests: slow-start senders first, then the rest, each group round-robin.
        """
        with self._cond:
            now = self._clock()
            ended = [(s, why) for s in self._senders if (why := s.ending(now)) is not None]
            for sender, _why in ended:
                self._senders.remove(sender)
            count = len(self._senders)
            order = [self._senders[(self._turn + i) % count] for i in range(count)]
            ready = [s for s in order if s.ready()]
            starting = [s for s in ready if s.sent < self.slow_start]
            candidates = starting or ready
            chosen = candidates[0] if candidates else None
            if chosen is not None:
                self._turn = (self._senders.index(chosen) + 1) % count
            return chosen, ended

    def drain(self) -> None:
        """Take turns on the calling thread until every transfer waits for acks or has ended (tests)."""
        while self._turn_once():
            pass

    def _turn_once(self) -> bool:
        """One turn: end what has ended, send one chunk. False when there was nothing to do."""
        chosen, ended = self.next_turn()
        for sender, why in ended:
            sender.finish(why)
        if chosen is not None:
            try:
                chosen.step()
            except Exception as error:  # noqa: BLE001  (one transfer's error must not stop the others)
                with self._cond:
                    if chosen in self._senders:
                        self._senders.remove(chosen)
                chosen.finish("error", error)
        return chosen is not None or bool(ended)

    def _loop(self) -> None:
        while True:
            if self._turn_once():
                continue
            with self._cond:
                if not self._senders:
                    self._thread = None  # add() starts another for the next transfer
                    return
                if any(s.ready() or s.ending(self._clock()) for s in self._senders):
                    continue
                deadlines = [s.deadline() for s in self._senders]
                self._cond.wait(max(0.0, min(deadlines) - self._clock()))


_shared: SendScheduler | None = None
_shared_lock = threading.Lock()


def shared_scheduler() -> SendScheduler:
    """The scheduler of senders started without one (a widget gives its own: ``_video_requests.py``)."""
    global _shared  # one per process, made on first use
    with _shared_lock:
        if _shared is None:
            _shared = SendScheduler()
        return _shared


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
