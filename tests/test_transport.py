"""The chunked video transport: the sender alone, the widget's messages in-process, and a real kernel.

The sender's invariant is checked where it matters, inside ``send``: no chunk goes out more
than ``window`` ahead of the acknowledged ones. The real-kernel test pulls a whole padded clip
through comm messages exactly as the front end does (probe, request, chunks, acks) and
compares the bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import queue
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation
from foxkling_widgets._transport import (
    BASE64,
    CHUNK_SIZE,
    PROBE_BYTES,
    WINDOW,
    ChunkSender,
    chunk_count,
    chunk_size_for,
    direct_play_url,
)
from foxkling_widgets._types import Task, TaskStatus
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(240)

Sent = tuple[dict[str, Any], "list[bytes] | None"]


class RecordingFile(io.RawIOBase):
    """A binary file over a real one that records the size of every read."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb", buffering=0)
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self._file.read(size)

    def close(self) -> None:
        self._file.close()
        super().close()


def pad_file(path: Path, size: int) -> None:
    """Grow an MP4 to ``size`` bytes with a top-level ``free`` box (players skip it)."""
    extra = size - path.stat().st_size
    assert extra >= 8
    with path.open("ab") as out:
        out.write(extra.to_bytes(4, "big") + b"free")
        left = extra - 8
        while left:
            out.write(bytes(min(left, 1 << 20)))
            left -= min(left, 1 << 20)


def random_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "clip.mp4"
    with path.open("wb") as out:
        left = size
        while left:
            out.write(os.urandom(min(left, 1 << 20)))
            left -= min(left, 1 << 20)
    return path


class Front:
    """The front end's side, on the test's thread: takes chunks from a queue and acks them."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Sent] = queue.Queue()
        self.sender: ChunkSender | None = None
        self.violations: list[str] = []

    def send(self, content: dict[str, Any], buffers: list[bytes] | None) -> None:
        # Runs on the sender's thread: the window must hold at the moment each chunk leaves.
        sender = self.sender
        assert sender is not None
        if content["kind"] == "video-chunk" and content["index"] >= sender.acknowledged + sender.window:
            self.violations.append(f"chunk {content['index']} sent with {sender.acknowledged} acknowledged")
        self.messages.put((content, buffers))

    def take(self, timeout: float = 30) -> Sent:
        return self.messages.get(timeout=timeout)


def make_sender(front: Front, file: Any, total: int, **options: Any) -> ChunkSender:
    done: list[str] = []
    sender = ChunkSender(
        transfer_id="fk-1", task_id="task-1", file=file, total=total, send=front.send, on_done=done.append, **options
    )
    front.sender = sender
    sender.done_reasons = done  # type: ignore[attr-defined]
    return sender


def chunk_bytes(content: dict[str, Any], buffers: list[bytes] | None) -> bytes:
    if content["encoding"] == BASE64:
        return base64.b64decode(content["data"])
    assert buffers is not None
    return bytes(buffers[0])


# -- the sender alone ------------------------------------------------------------------------------
def test_chunk_count() -> None:
    assert [chunk_count(n, 4) for n in (0, 1, 4, 5, 8, 9)] == [1, 1, 1, 2, 2, 3]


def test_a_30_mb_file_is_sent_in_chunks_never_read_whole(tmp_path: Path) -> None:
    size = 30 * 1024 * 1024 + 12345
    path = random_file(tmp_path, size)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    front = Front()
    file = RecordingFile(path)
    sender = make_sender(front, file, size)
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        sender.start()
        for index in range(sender.chunks):
            content, buffers = front.take()
            assert (content["kind"], content["index"], content["offset"]) == ("video-chunk", index, index * CHUNK_SIZE)
            assert content["total"] == size and content["last"] == (index == sender.chunks - 1)
            data = chunk_bytes(content, buffers)
            assert len(data) == content["size"]
            digest.update(data)
            del data, buffers, content
            assert sender.ack(index)
        sender.join(30)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == expected
    assert max(file.reads) <= CHUNK_SIZE and sum(file.reads) == size
    # At most the window's chunks (and one being read) are alive at once: never the whole clip.
    assert peak < (WINDOW + 2) * CHUNK_SIZE, peak
    assert front.violations == [] and sender.outcome == "complete" and file.closed
    assert sender.done_reasons == ["complete"]  # type: ignore[attr-defined]


def test_the_window_holds_with_acks_late_and_out_of_order(tmp_path: Path) -> None:
    path = random_file(tmp_path, 10 * 1000 + 7)
    front = Front()
    sender = make_sender(front, path.open("rb", buffering=0), 10_007, chunk_size=1000, window=3)
    sender.start()
    received: dict[int, bytes] = {}
    pending: list[int] = []
    while len(received) < sender.chunks:
        content, buffers = front.take()
        received[content["index"]] = chunk_bytes(content, buffers)
        pending.append(content["index"])
        if len(pending) == 3 or content["last"]:  # the window is full: ack the newest first
            for index in reversed(pending):
                sender.ack(index)
            pending.clear()
    sender.join(30)
    assert b"".join(received[i] for i in range(sender.chunks)) == path.read_bytes()
    assert front.violations == [] and sender.outcome == "complete"


def test_without_acks_it_stops_at_the_window_then_gives_up_and_says_so(tmp_path: Path) -> None:
    path = random_file(tmp_path, 10_000)
    front = Front()
    sender = make_sender(front, path.open("rb", buffering=0), 10_000, chunk_size=1000, window=3, idle_timeout=0.3)
    sender.start()
    sender.join(30)
    sent = [front.take(1) for _ in range(front.messages.qsize())]
    kinds = [content["kind"] for content, _buffers in sent]
    assert kinds == ["video-chunk"] * 3 + ["video-error"]
    error = sent[-1][0]
    assert error["id"] == "fk-1" and error["ok"] is False and "did not confirm a part" in error["error"]
    assert sender.outcome == "timeout" and sender.done_reasons == ["timeout"]  # type: ignore[attr-defined]


def test_cancel_stops_it_quietly_and_closes_the_file(tmp_path: Path) -> None:
    path = random_file(tmp_path, 10_000)
    file = path.open("rb", buffering=0)
    front = Front()
    sender = make_sender(front, file, 10_000, chunk_size=1000, window=2)
    sender.start()
    front.take()
    sender.cancel()
    sender.join(30)
    assert sender.outcome == "cancelled" and file.closed
    assert all(content["kind"] == "video-chunk" for content, _b in list(front.messages.queue))
    assert sender.sent <= 2


def test_acks_for_chunks_never_sent_are_refused(tmp_path: Path) -> None:
    path = random_file(tmp_path, 3000)
    front = Front()
    sender = make_sender(front, path.open("rb", buffering=0), 3000, chunk_size=1000, window=1)
    assert not sender.ack(0) and not sender.ack(-1)
    sender.start()
    front.take()
    assert not sender.ack(2) and sender.ack(0) and sender.ack(0)  # a duplicate ack is harmless
    front.take()
    sender.ack(1)
    front.take()
    sender.ack(2)
    sender.join(30)
    assert sender.outcome == "complete"


def test_base64_chunks_and_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    front = Front()
    sender = make_sender(front, path.open("rb", buffering=0), 0, encoding=BASE64)
    sender.start()
    content, buffers = front.take()
    assert buffers is None and content["data"] == "" and content["last"] and content["size"] == 0
    sender.ack(0)
    sender.join(30)
    assert sender.outcome == "complete"


def test_a_file_that_shrinks_mid_transfer_ends_in_one_error(tmp_path: Path) -> None:
    path = random_file(tmp_path, 5000)
    front = Front()
    sender = make_sender(front, path.open("rb", buffering=0), 5000, chunk_size=1000, window=1)
    sender.start()
    front.take()
    os.truncate(path, 2500)
    sender.ack(0)
    front.take()  # chunk 1 is still whole
    sender.ack(1)
    sender.join(30)
    content, _buffers = front.take()
    assert content["kind"] == "video-error" and "could not read" in content["error"]
    assert sender.outcome == "error" and front.messages.empty()


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 5000), chunk=st.integers(1, 1500), window=st.integers(1, 5), data=st.data())
def test_any_size_chunk_and_window_reassemble_exactly(
    tmp_path_factory: pytest.TempPathFactory, size: int, chunk: int, window: int, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("any") / "clip.mp4"
    path.write_bytes(os.urandom(size))
    front = Front()
    sender = make_sender(front, path.open("rb", buffering=0), size, chunk_size=chunk, window=window)
    sender.start()
    received: dict[int, bytes] = {}
    unacked: list[int] = []
    while len(received) < sender.chunks:
        content, buffers = front.take()
        received[content["index"]] = chunk_bytes(content, buffers)
        unacked.append(content["index"])
        # Ack a random selection (the front end's acks may come late, in any order).
        if len(unacked) == window or content["last"] or data.draw(st.booleans()):
            for index in data.draw(st.permutations(unacked)):
                sender.ack(index)
            unacked.clear()
    sender.join(30)
    assert b"".join(received[i] for i in range(sender.chunks)) == path.read_bytes()
    assert front.violations == [] and sender.outcome == "complete"


# -- the direct path -------------------------------------------------------------------------------
NOW = 1_900_000_000


def _task(url: str | None, created: int | None = NOW - 600) -> Task:
    return Task(id="t", status=TaskStatus.COMPLETED, video_url=url, created=created)


@pytest.mark.parametrize(
    ("task", "mode", "expected"),
    [
        (_task("https://cdn.example.com/v.mp4"), "live", "https://cdn.example.com/v.mp4"),
        (_task("https://cdn.example.com/v.mp4"), "emulator", None),  # loopback is never reachable elsewhere
        (_task("http://cdn.example.com/v.mp4"), "live", None),
        (_task("https://127.0.0.1:8000/v.mp4"), "live", None),
        (_task("https://localhost/v.mp4"), "live", None),
        (_task("https://10.0.0.5/v.mp4"), "live", None),
        (_task("https://[::1]/v.mp4"), "live", None),
        (_task("https://cdn.example.com/v.mp4", created=NOW - 23 * 3600 - 1), "live", None),  # about to expire
        (_task("https://cdn.example.com/v.mp4", created=None), "live", None),  # unknown age
        (_task(None), "live", None),
        (None, "live", None),
    ],
)
def test_direct_play_url(task: Task | None, mode: str, expected: str | None) -> None:
    assert direct_play_url(task, mode, now=NOW) == expected


# -- the widget's messages, in-process --------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.2)) as running:
        yield running


class Recorder:
    """Replaces ``widget.send``: every message, from whichever thread sent it."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Sent] = queue.Queue()
        self.lock = threading.Lock()
        self.all: list[Sent] = []

    def __call__(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        with self.lock:
            self.all.append((content, buffers))
        self.messages.put((content, buffers))

    def take(self, timeout: float = 30) -> Sent:
        return self.messages.get(timeout=timeout)

    def take_chunk(self, timeout: float = 30) -> Sent:
        """The next ``video-chunk`` (acks' answers come in between)."""
        while True:
            content, buffers = self.take(timeout)
            if content["kind"] == "video-chunk":
                return content, buffers


@pytest.fixture
def clip_widget(server: EmulatorServer, tmp_path: Path) -> Iterator[tuple[KlingWidget, Recorder, bytes]]:
    client = FoxClient("sk-transport-test-key", server.url)
    widget = KlingWidget(client=client)
    request = VideoRequest(prompt="a fox in the snow")
    path = widget._controller.cache.path_for("task-big-1")
    task = client.generate(request, path)
    pad_file(path, 5 * CHUNK_SIZE + 99)
    widget._controller.add_finished(
        Generation(request, id="task-big-1", status="completed", progress=100.0, task=task, path=path, watching=False)
    )
    recorder = Recorder()
    widget.send = recorder  # type: ignore[method-assign]
    yield widget, recorder, path.read_bytes()
    widget.close()
    client.close()


def _message(widget: KlingWidget, **content: Any) -> None:
    widget._on_custom_message(widget, content, [])


def test_the_probe_answers_with_the_known_buffer(clip_widget: tuple[KlingWidget, Recorder, bytes]) -> None:
    widget, recorder, _data = clip_widget
    _message(widget, id="p1", kind="video-probe")
    content, buffers = recorder.take()
    assert content == {"id": "p1", "kind": "video-probe-response", "ok": True, "size": 4}
    assert buffers == [PROBE_BYTES]


@pytest.mark.parametrize("encoding", ["binary", "base64"])
def test_a_whole_video_through_requests_and_acks(
    clip_widget: tuple[KlingWidget, Recorder, bytes], encoding: str
) -> None:
    widget, recorder, data = clip_widget
    path = widget._find("task-big-1").path  # type: ignore[union-attr]
    os.utime(path, (1, 1))  # long unused: the request must mark it recently shown
    _message(widget, id="v1", kind="video-request", task_id="task-big-1", encoding=encoding, direct=True)
    header, _ = recorder.take()
    size = chunk_size_for(encoding)
    chunks = -(-len(data) // size)
    assert (size, chunks) == ((CHUNK_SIZE, 6) if encoding == "binary" else (CHUNK_SIZE // 2, 11))
    assert header == {
        "id": "v1",
        "kind": "video-response",
        "ok": True,
        "task_id": "task-big-1",
        "mime": "video/mp4",
        "name": widget._find("task-big-1").download_name(),  # type: ignore[union-attr]  (prompt words, tier, date, id)
        "total": len(data),
        "chunks": chunks,
        "chunk_size": size,
        "window": WINDOW,
        "encoding": encoding,
    }
    assert path.stat().st_mtime > 1
    parts: list[bytes] = []
    for index in range(chunks):
        content, buffers = recorder.take_chunk()
        assert (content["kind"], content["index"], content["encoding"]) == ("video-chunk", index, encoding)
        parts.append(chunk_bytes(content, buffers))
        _message(widget, id=f"a{index}", kind="video-ack", transfer="v1", index=index)
    assert b"".join(parts) == data and parts[0][4:8] == b"ftyp"
    deadline = time.monotonic() + 30
    while widget._transfers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(widget._transfers) == 0
    with recorder.lock:
        acks = [c for c, _b in recorder.all if c["kind"] == "video-ack-response"]
    assert [a["id"] for a in acks] == [f"a{i}" for i in range(chunks)] and all(a["ok"] for a in acks)


def test_cancel_unknown_acks_and_a_missing_video_are_answered(
    clip_widget: tuple[KlingWidget, Recorder, bytes],
) -> None:
    widget, recorder, _data = clip_widget
    _message(widget, id="v2", kind="video-request", task_id="task-big-1")
    assert recorder.take()[0]["ok"] is True
    _message(widget, id="c1", kind="video-cancel", transfer="v2")
    _message(widget, id="c2", kind="video-cancel", transfer="v2")
    _message(widget, id="a9", kind="video-ack", transfer="v2", index=0)
    _message(widget, id="a10", kind="video-ack", transfer="nope", index="x")
    _message(widget, id="v3", kind="video-request", task_id="task-nope")
    deadline = time.monotonic() + 30
    while widget._transfers and time.monotonic() < deadline:
        time.sleep(0.01)
    with recorder.lock:
        answers = {c["id"]: c for c, _b in recorder.all if c["kind"] != "video-chunk"}
    assert answers["c1"] == {"id": "c1", "kind": "video-cancel-response", "ok": True}
    assert answers["c2"] == {"id": "c2", "kind": "video-cancel-response", "ok": False}
    assert answers["a9"]["ok"] is False and answers["a10"]["kind"] == "video-ack-response"
    assert answers["v3"]["ok"] is False and answers["v3"]["error"] == "no video for this task in this kernel"
    assert len(widget._transfers) == 0


# -- a real kernel, real comm messages ------------------------------------------------------------
KERNEL_SETUP = """
import os
from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation

def _pad(path, size):
    extra = size - os.path.getsize(path)
    with open(path, "ab") as out:
        out.write(extra.to_bytes(4, "big") + b"free")
        left = extra - 8
        while left:
            out.write(bytes(min(left, 1 << 20)))
            left -= min(left, 1 << 20)

w = KlingWidget()
request = VideoRequest(prompt="a fox in the snow")
path = w._controller.cache.path_for("task-big-1")
with FoxClient() as client:
    task = client.generate(request, path)
_pad(path, {size})
w._controller.add_finished(
    Generation(request, id="task-big-1", status="completed", progress=100.0, task=task, path=path, watching=False)
)
print(w.model_id, path)
"""


@pytest.mark.kernel
@pytest.mark.slow
def test_a_real_kernel_streams_a_video_in_acknowledged_chunks(tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    size = 4 * CHUNK_SIZE + 4321
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.5)) as emulator:
        env = {
            **os.environ,
            "FOXAPI_BASE_URL": emulator.url,
            "FOXAPI_API_KEY": "sk-transport-kernel-test",
            "FOXKLING_DATA_DIR": str(tmp_path / "data"),
            "FOXKLING_CACHE_DIR": str(tmp_path / "cache"),
        }
        manager, client = start_new_kernel(kernel_name="python3", env=env)
        try:
            out: list[str] = []
            reply = client.execute_interactive(
                KERNEL_SETUP.format(size=size),
                timeout=120,
                output_hook=lambda m: out.append(m["content"]["text"] if m["content"].get("name") == "stdout" else ""),
            )
            assert reply["content"]["status"] == "ok", reply["content"]
            comm_id, path = "".join(out).split()[-2:]
            expected = Path(path).read_bytes()
            assert len(expected) == size

            def custom(**content: Any) -> None:
                data = {"method": "custom", "content": content}
                client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

            def next_message(timeout: float = 60) -> tuple[dict[str, Any], list[bytes]]:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    try:
                        msg = client.get_iopub_msg(timeout=1)
                    except queue.Empty:
                        continue
                    if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
                        data = msg["content"]["data"]
                        if data.get("method") == "custom":
                            return data["content"], [bytes(b) for b in msg.get("buffers", [])]
                raise AssertionError("no message from the widget")

            def answer(request_id: str) -> tuple[dict[str, Any], list[bytes]]:
                while True:
                    content, buffers = next_message()
                    if content.get("id") == request_id:
                        return content, buffers

            custom(id="p1", kind="video-probe")
            probe, buffers = answer("p1")
            assert probe["ok"] and buffers == [PROBE_BYTES]

            for encoding in ("binary", "base64"):
                request_id = f"v-{encoding}"
                custom(id=request_id, kind="video-request", task_id="task-big-1", encoding=encoding)
                header, _ = answer(request_id)
                expected_chunks = 5 if encoding == "binary" else 9
                assert header["ok"] and header["total"] == size and header["chunks"] == expected_chunks, header
                parts: dict[int, bytes] = {}
                acked, unacked = 0, []
                while len(parts) < header["chunks"]:
                    content, buffers = answer(request_id)
                    assert content["kind"] == "video-chunk", content
                    # The window, seen from outside: acks are held back until it is full.
                    assert content["index"] < acked + header["window"], (content["index"], acked)
                    parts[content["index"]] = base64.b64decode(content["data"]) if encoding == "base64" else buffers[0]
                    assert len(parts[content["index"]]) == content["size"]
                    unacked.append(content["index"])
                    if len(unacked) == header["window"] or content["last"]:
                        for index in unacked:
                            custom(id=f"a-{encoding}-{index}", kind="video-ack", transfer=request_id, index=index)
                        acked += len(unacked)
                        unacked = []
                assert b"".join(parts[i] for i in range(header["chunks"])) == expected

            # A cancel mid-way is answered, and the transfer ends.
            custom(id="v-cancel", kind="video-request", task_id="task-big-1")
            assert answer("v-cancel")[0]["ok"]
            custom(id="c1", kind="video-cancel", transfer="v-cancel")
            assert answer("c1")[0] == {"id": "c1", "kind": "video-cancel-response", "ok": True}
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=5), inner, max_size=2),
    max_leaves=5,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=8), "kind": st.sampled_from(["video-ack", "video-cancel", "video-probe"])},
        optional={"transfer": _json | st.just("v-live"), "index": _json},
    )
)
def test_every_transport_message_gets_exactly_one_answer(
    clip_widget: tuple[KlingWidget, Recorder, bytes], content: dict[str, Any]
) -> None:
    widget, recorder, _data = clip_widget
    with recorder.lock:
        recorder.all.clear()
    widget._on_custom_message(widget, content, [])
    with recorder.lock:
        answers = [c for c, _b in recorder.all if c.get("id") == content["id"] and c["kind"] != "video-chunk"]
    assert len(answers) == 1 and answers[0]["kind"] == f"{content['kind']}-response"
    assert isinstance(answers[0]["ok"], bool)
