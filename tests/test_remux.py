"""The MP3-audio copy for players without AAC (VS Code), and the widget sending it on request.

Real emulator clips (H.264 + AAC), real PyAV decoding of the copy, and the widget's own message
handler with its real chunk sender: only ``widget.send`` is replaced, to record what goes out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation
from foxkling_widgets._remux import MP3_SUFFIX, mp3_copy, mp3_copy_path
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer
from foxkling_widgets.emulator._render import render_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 5 s clip with AAC audio and one without audio, rendered once for the module."""
    directory = tmp_path_factory.mktemp("clips")
    made = {}
    for name, audio in (("audio", True), ("silent", False)):
        made[name] = directory / f"task-{name}.mp4"
        render_video({"prompt": "a fox in the snow", "duration": 5, "generate_audio": audio}, made[name])
    return made


def _streams(path: Path) -> dict[str, Any]:
    """Per stream type: codec (canonical name), packet count, a digest of the packets' bytes, duration."""
    found: dict[str, Any] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            found[stream.type] = {
                "codec": stream.codec_context.codec.canonical_name,
                "packets": 0,
                "digest": hashlib.sha256(),
                "duration": float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0,
                "frames": 0,
            }
        for packet in container.demux():
            if packet.dts is None:
                continue
            entry = found[packet.stream.type]
            entry["packets"] += 1
            entry["digest"].update(bytes(packet))
            entry["frames"] += len(packet.decode())  # the copy must decode, not only demux
    for entry in found.values():
        entry["digest"] = entry["digest"].hexdigest()
    return found


def test_the_copy_has_the_same_video_packets_and_mp3_audio(clips: dict[str, Path]) -> None:
    source = clips["audio"]
    copy = mp3_copy(source)
    assert copy == source.with_name(f"task-audio{MP3_SUFFIX}") == mp3_copy_path(source)
    before, after = _streams(source), _streams(copy)
    assert before["audio"]["codec"] == "aac" and after["audio"]["codec"] == "mp3"
    # Stream copy: the very same H.264 packets, none re-encoded.
    assert after["video"]["codec"] == "h264"
    for key in ("packets", "digest", "frames"):
        assert after["video"][key] == before["video"][key]
    assert after["audio"]["frames"] > 0
    assert abs(after["audio"]["duration"] - before["audio"]["duration"]) < 0.1
    with av.open(str(source)) as a, av.open(str(copy)) as b:
        assert a.duration is not None and b.duration is not None
        assert abs(a.duration - b.duration) / av.time_base < 0.1
    with copy.open("rb") as file:
        head = file.read(64)
    assert head[4:8] == b"ftyp" and b"moov" in head  # faststart: the index before the media
    assert sorted(p.name for p in copy.parent.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_the_copy_is_reused_until_the_source_is_newer(clips: dict[str, Path]) -> None:
    source = clips["audio"]
    copy = mp3_copy(source)
    made = copy.stat().st_mtime_ns
    assert mp3_copy(source) == copy and copy.stat().st_mtime_ns == made  # reused, not rewritten
    newer = made + 5_000_000_000
    os.utime(source, ns=(newer, newer))  # the source replaced after the copy was made
    assert mp3_copy(source) == copy and copy.stat().st_mtime_ns > made
    assert mp3_copy(copy) == copy  # a copy is never copied again


def test_a_clip_without_audio_is_sent_as_it_is(clips: dict[str, Path]) -> None:
    assert mp3_copy(clips["silent"]) == clips["silent"]
    assert not mp3_copy_path(clips["silent"]).exists()


def test_garbage_returns_the_original_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    garbage = tmp_path / "task-x.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    missing = tmp_path / "task-gone.mp4"
    with caplog.at_level(logging.WARNING, logger="foxkling_widgets"):
        assert mp3_copy(garbage) == garbage
        assert mp3_copy(missing) == missing
    assert sum("no MP3-audio copy of" in r.getMessage() for r in caplog.records) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task-x.mp4"]  # no copy, no temp file


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=4096))
def test_any_bytes_give_the_original_and_leave_nothing(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "task-any.mp4"
        path.write_bytes(data)
        assert mp3_copy(path) == path
        assert [p.name for p in Path(directory).iterdir()] == ["task-any.mp4"]


# -- the widget: a video-request with audio "mp3" --------------------------------------------------
Sent = tuple[dict[str, Any], "list[bytes] | None"]


class Recorder:
    """Replaces ``widget.send``: every message, from whichever thread sent it."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Sent] = queue.Queue()
        self.lock = threading.Lock()

    def __call__(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.messages.put((content, buffers))

    def next_of(self, kind: str, timeout: float = 30) -> Sent:
        while True:
            content, buffers = self.messages.get(timeout=timeout)
            if content["kind"] == kind:
                return content, buffers


@pytest.fixture
def audio_widget(tmp_path: Path) -> Iterator[tuple[KlingWidget, Recorder, Path]]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.2)) as server:
        client = FoxClient("sk-remux-test-key", server.url)
        widget = KlingWidget(client=client)
        request = VideoRequest(prompt="a fox in the snow", generate_audio=True)
        path = widget._controller.cache.path_for("task-sound-1")
        task = client.generate(request, path)
        widget._controller.add_finished(
            Generation(
                request, id="task-sound-1", status="completed", progress=100.0, task=task, path=path, watching=False
            )
        )
        recorder = Recorder()
        widget.send = recorder  # type: ignore[method-assign]
        try:
            yield widget, recorder, path
        finally:
            widget.close()
            client.close()


def _receive(widget: KlingWidget, recorder: Recorder, transfer: str, chunks: int) -> bytes:
    parts = []
    for _ in range(chunks):
        content, buffers = recorder.next_of("video-chunk")
        assert buffers is not None
        parts.append(bytes(buffers[0]))
        widget._on_custom_message(
            widget,
            {"id": f"ack-{content['index']}", "kind": "video-ack", "transfer": transfer, "index": content["index"]},
            [],
        )
    deadline = time.monotonic() + 30
    while widget._transfers and time.monotonic() < deadline:  # the sender's thread ends after the last ack
        time.sleep(0.01)
    return b"".join(parts)


def test_a_request_for_mp3_audio_streams_the_copy(audio_widget: tuple[KlingWidget, Recorder, Path]) -> None:
    widget, recorder, path = audio_widget
    original = path.read_bytes()
    message = {"id": "v1", "kind": "video-request", "task_id": "task-sound-1", "encoding": "binary"}
    widget._on_custom_message(widget, {**message, "audio": "mp3", "direct": True}, [])
    header, _ = recorder.next_of("video-response")
    copy = mp3_copy_path(path)
    assert header["ok"] is True and header["mime"] == "video/mp4"
    assert header["name"] == widget.tasks[0].download_name() and header["name"].endswith("-sound1.mp4")
    assert header["total"] == copy.stat().st_size != len(original)
    data = _receive(widget, recorder, "v1", header["chunks"])
    assert data == copy.read_bytes() and _streams(copy)["audio"]["codec"] == "mp3"
    assert copy.stat().st_mtime_ns >= path.stat().st_mtime_ns  # touched after the original: reused next time

    # Without the field, the original (AAC) file as before.
    widget._on_custom_message(widget, {**message, "id": "v2"}, [])
    header, _ = recorder.next_of("video-response")
    assert header["total"] == len(original)
    assert _receive(widget, recorder, "v2", header["chunks"]) == original
