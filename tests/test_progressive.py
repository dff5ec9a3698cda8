"""Progressive playback, kernel side: the shared sender scheduler and the fragmented-MP4 stream.

The scheduler is driven on the test's thread (``drain``), with a recording ``send``, so the order
of chunks across transfers is deterministic. The stream is a real emulator clip (H.264 + AAC)
remuxed by PyAV and read back by PyAV; the widget's own handler answers a real ``video-request``.
"""

from __future__ import annotations

import hashlib
import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from foxkling_widgets import KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation
from foxkling_widgets._fragment import fmp4_chunks, fmp4_mime
from foxkling_widgets._transport import ChunkSender, SendScheduler
from foxkling_widgets.emulator._render import render_video

pytestmark = pytest.mark.timeout(240)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Wire:
    """Every message any transfer sent, in order, as ``(transfer, index)`` or ``(transfer, kind)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.bytes: dict[str, list[bytes]] = {}

    def send(self, content: dict[str, Any], buffers: list[bytes] | None) -> None:
        if content["kind"] == "video-chunk":
            self.sent.append((content["id"], content["index"]))
            self.bytes.setdefault(content["id"], []).append(bytes(buffers[0]) if buffers else b"")
        else:
            self.sent.append((content["id"], content["kind"]))

    def take(self) -> list[tuple[str, Any]]:
        sent, self.sent = self.sent, []
        return sent


def file_sender(tmp_path: Path, wire: Wire, name: str, size: int, clock: Clock, **options: Any) -> ChunkSender:
    path = tmp_path / f"{name}.bin"
    path.write_bytes(os.urandom(size))
    done: list[str] = []
    sender = ChunkSender(
        transfer_id=name,
        task_id=name,
        file=path.open("rb", buffering=0),
        total=size,
        send=wire.send,
        chunk_size=10,
        window=3,
        clock=clock,
        on_done=done.append,
        **options,
    )
    sender.done_reasons = done  # type: ignore[attr-defined]
    return sender


def cancel_all(scheduler: SendScheduler, *senders: ChunkSender) -> None:
    """End the transfers a test left running, so their files close."""
    for sender in senders:
        sender.cancel()
    scheduler.drain()


def ack_all(sender: ChunkSender) -> None:
    for index in range(sender.sent):
        sender.ack(index)


def test_every_transfer_sends_its_first_chunk_before_any_sends_more(tmp_path: Path) -> None:
    wire, clock = Wire(), Clock()
    scheduler = SendScheduler(slow_start=1, clock=clock)
    a = file_sender(tmp_path, wire, "a", 100, clock)
    a.start(scheduler, thread=False)
    scheduler.drain()
    assert wire.take() == [("a", 0), ("a", 1), ("a", 2)]  # alone: up to its window
    b, c = (file_sender(tmp_path, wire, n, 100, clock) for n in "bc")
    b.start(scheduler, thread=False)
    c.start(scheduler, thread=False)
    ack_all(a)
    scheduler.drain()
    # b and c start first (slow start), although a is ready and ahead in the round-robin; then turns.
    assert wire.take() == [("b", 0), ("c", 0), ("a", 3), ("b", 1), ("c", 1), ("a", 4), ("b", 2), ("c", 2), ("a", 5)]
    cancel_all(scheduler, a, b, c)


def test_turns_go_round_robin_and_acks_pace_each_transfer(tmp_path: Path) -> None:
    wire, clock = Wire(), Clock()
    scheduler = SendScheduler(slow_start=2, clock=clock)
    senders = [file_sender(tmp_path, wire, n, 50, clock) for n in "abcd"]
    for sender in senders:
        sender.start(scheduler, thread=False)
    scheduler.drain()
    first = wire.take()
    # Two each before anyone's third (slow start of 2), then the third of each: the windows are full.
    assert first[:8] == [(n, i) for i in (0, 1) for n in "abcd"]
    assert first[8:] == [(n, 2) for n in "abcd"]
    senders[2].ack(0)  # only c has room now
    scheduler.drain()
    assert wire.take() == [("c", 3)]
    while any(s.outcome is None for s in senders):
        for sender in senders:
            ack_all(sender)
        scheduler.drain()
    assert all(s.done_reasons == ["complete"] for s in senders)  # type: ignore[attr-defined]
    assert len(scheduler) == 0
    for sender in senders:
        assert b"".join(wire.bytes[sender.transfer_id]) == (tmp_path / f"{sender.transfer_id}.bin").read_bytes()


def test_a_stalled_transfer_times_out_alone_and_a_cancelled_one_quietly(tmp_path: Path) -> None:
    wire, clock = Wire(), Clock()
    scheduler = SendScheduler(clock=clock)
    stalled, cancelled, healthy = (
        file_sender(tmp_path, wire, n, 100, clock, idle_timeout=5.0) for n in ("stalled", "cancelled", "healthy")
    )
    for sender in (stalled, cancelled, healthy):
        sender.start(scheduler, thread=False)
    scheduler.drain()
    wire.take()
    cancelled.cancel()
    clock.now = 4.0
    ack_all(healthy)
    clock.now = 6.0  # past the stalled one's deadline, not the healthy one's (it acked at 4 s)
    scheduler.drain()
    sent = wire.take()
    assert ("stalled", "video-error") in sent and not any(t == "cancelled" for t, _ in sent)
    assert [t for t, _ in sent if t == "healthy"] == ["healthy"] * 3
    assert stalled.done_reasons == ["timeout"] and cancelled.done_reasons == ["cancelled"]  # type: ignore[attr-defined]
    assert healthy.outcome is None and len(scheduler) == 1
    cancel_all(scheduler, healthy)


def test_a_failing_stream_ends_in_one_error_and_the_others_go_on(tmp_path: Path) -> None:
    wire, clock = Wire(), Clock()
    scheduler = SendScheduler(clock=clock)

    def broken() -> Iterator[tuple[bytes, bool]]:
        yield b"first", False
        raise OSError("the clip vanished")

    bad = ChunkSender(transfer_id="bad", task_id="bad", stream=broken(), send=wire.send, clock=clock)
    good = file_sender(tmp_path, wire, "good", 20, clock)
    bad.start(scheduler, thread=False)
    good.start(scheduler, thread=False)
    scheduler.drain()
    assert wire.take() == [("bad", 0), ("good", 0), ("bad", "video-error"), ("good", 1)]
    assert bad.outcome == "error" and bad.total is None and bad.chunks is None
    cancel_all(scheduler, good)


# -- the fragmented stream -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5 s emulator clip with AAC audio, rendered once for the module."""
    path = tmp_path_factory.mktemp("clips") / "task-frag.mp4"
    render_video({"prompt": "a fox in the snow", "duration": 5, "generate_audio": True}, path)
    return path


def _packets(path: Path) -> dict[str, tuple[int, str]]:
    """Per stream type: packet count and a digest of the packets' bytes (copied, never re-encoded)."""
    found: dict[str, Any] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.dts is None:
                continue
            count, digest = found.setdefault(packet.stream.type, [0, hashlib.sha256()])
            found[packet.stream.type][0] = count + 1
            digest.update(bytes(packet))
    return {kind: (count, digest.hexdigest()) for kind, (count, digest) in found.items()}


def test_the_stream_is_fragmented_mp4_of_the_same_packets(clip: Path, tmp_path: Path) -> None:
    chunks = list(fmp4_chunks(clip, 64 * 1024))
    assert [last for _data, last in chunks] == [False] * (len(chunks) - 1) + [True]
    first = chunks[0][0]
    # The first chunk: the init segment (an empty moov) and exactly the first fragment.
    assert first[4:8] == b"ftyp" and b"moov" in first and first.count(b"moof") == 1
    assert all(len(data) == 64 * 1024 for data, _last in chunks[1:-1]) and 0 < len(chunks[-1][0]) <= 64 * 1024
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(b"".join(data for data, _last in chunks))
    assert copy.read_bytes().count(b"moof") > 5 and b"mfra" not in copy.read_bytes()[-64:]
    assert _packets(copy) == _packets(clip)


def test_the_mime_names_the_codecs_and_other_files_have_none(clip: Path, tmp_path: Path) -> None:
    mime = fmp4_mime(clip)
    assert mime is not None and mime.startswith('video/mp4; codecs="avc1.') and mime.endswith(', mp4a.40.2"')
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    assert fmp4_mime(junk) is None


def test_the_widget_streams_fragments_for_a_container_request(clip: Path) -> None:
    widget = KlingWidget()
    sent: queue.Queue[tuple[dict[str, Any], list[bytes] | None]] = queue.Queue()
    widget.send = lambda content, buffers=None: sent.put((content, buffers))  # type: ignore[method-assign]
    widget._controller.add_finished(
        Generation(
            VideoRequest(prompt="p"), id="task-frag", status="completed", progress=100.0, path=clip, watching=False
        )
    )
    try:
        ask = {"id": "fk-9", "kind": "video-request", "task_id": "task-frag", "encoding": "binary", "container": "fmp4"}
        widget._on_custom_message(widget, ask, [])
        header = sent.get(timeout=30)[0]
        assert header["ok"] is True and header["container"] == "fmp4" and "total" not in header
        assert header["mime"] == fmp4_mime(clip) and header["estimate"] == clip.stat().st_size
        received: list[bytes] = []
        while True:
            content, buffers = sent.get(timeout=30)
            if content["kind"] != "video-chunk":
                continue
            assert (
                buffers is not None
                and content["index"] == len(received)
                and content["offset"] == sum(map(len, received))
            )
            received.append(bytes(buffers[0]))
            ack = {"id": f"a{content['index']}", "kind": "video-ack", "transfer": "fk-9", "index": content["index"]}
            widget._on_custom_message(widget, ack, [])
            if content["last"]:
                break
            assert content["total"] is None  # known only at the end
        assert content["total"] == sum(map(len, received)) and received[0][4:8] == b"ftyp"
        assert b"".join(received) == b"".join(data for data, _last in fmp4_chunks(clip, header["chunk_size"]))
        deadline = time.monotonic() + 30
        while widget._transfers and time.monotonic() < deadline:  # ends after the last ack
            time.sleep(0.01)
        assert len(widget._transfers) == 0
    finally:
        widget.close()
