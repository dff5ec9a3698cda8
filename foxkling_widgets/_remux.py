"""An MP3-audio copy of a cached clip, for players that cannot decode AAC (VS Code's webview).

VS Code's desktop build ships a Chromium media stack without the AAC decoder
(microsoft/vscode#162062): clips play there, but silently. It does decode H.264 video and MP3
audio, so :func:`mp3_copy` writes a copy of the MP4 whose video packets are copied as they are
(no re-encoding: the same bytes, the same quality, and cheap) and whose audio is transcoded to
MP3. The copy lives beside the original in the video cache (``<stem>.mp3audio.mp4``), so the
cache's budget counts it and evicts it like any other file, and it is made once per clip.

The copy is written packet by packet (memory stays flat whatever the file's size) to a temp file
that is renamed into place, so a reader never sees half a file. ``+faststart`` puts ``moov``
first, as in the original, so a browser can start before the end; the muxer does that in a
second pass over the file, which is why it needs a real file and not a ``BytesIO``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["MP3_SUFFIX", "mp3_copy", "mp3_copy_path"]

logger = logging.getLogger("foxkling_widgets")

#: What the copy's name ends with, in place of ``.mp4``.
MP3_SUFFIX = ".mp3audio.mp4"
#: MP3 bit rate per channel: 64 kbit/s mono (the emulator's track), 128 kbit/s stereo.
_BITRATE_PER_CHANNEL = 64_000
# One remux at a time: two views asking for the same clip at once make it once, and the machine's
# cores are not shared among several copies.
_lock = threading.Lock()


def mp3_copy_path(path: Path) -> Path:
    """Where the MP3-audio copy of ``path`` lives (beside it)."""
    return path.with_name(f"{path.stem}{MP3_SUFFIX}")


def mp3_copy(path: Path) -> Path:
    """The path of a copy of ``path`` with its AAC audio as MP3 and its video copied as is.

    Returns ``path`` itself when the file has no audio, its audio is not AAC, or anything goes
    wrong (the failure is logged): the caller then sends the original, which plays, if silently,
    rather than nothing. A copy that exists and is at least as new as ``path`` is reused.
    Never raises.
    """
    try:
        with _lock:
            return _mp3_copy(Path(path))
    except Exception as error:  # noqa: BLE001  (the original is always a usable answer)
        logger.warning("no MP3-audio copy of %s: %s: %s", Path(path).name, type(error).__name__, error)
        return Path(path)


def _mp3_copy(path: Path) -> Path:
    if path.name.endswith(MP3_SUFFIX):
        return path  # already a copy
    destination = mp3_copy_path(path)
    with contextlib.suppress(OSError):
        # The cache marks a file used by touching it; whoever sends the copy touches it after the
        # original, so a copy stays at least as new as its source until the source is replaced.
        if destination.stat().st_mtime_ns >= path.stat().st_mtime_ns:
            return destination
    import av  # here, not at the top: importing the widget stays quick (as in _poster.py)

    with av.open(str(path)) as source:
        audio = next((s for s in source.streams.audio if s.codec_context.name == "aac"), None)
        if audio is None:
            return path  # no audio, or audio that is not AAC: nothing to convert
        fd, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        try:
            _remux(source, audio, temp_name)
            os.replace(temp_name, destination)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
    return destination


def _remux(source: Any, audio: Any, temp_name: str) -> None:
    """Write ``source`` to ``temp_name``: every video stream copied, ``audio`` as MP3, the rest dropped."""
    import av

    with av.open(temp_name, "w", format="mp4", options={"movflags": "+faststart"}) as output:
        copies = {s.index: output.add_stream_from_template(s) for s in source.streams.video}
        channels = min(2, audio.codec_context.channels or 1)  # MP3 carries mono or stereo only
        rate = audio.codec_context.sample_rate
        rates = av.codec.Codec("libmp3lame", "w").audio_rates or ()
        if rate not in rates:  # 96 kHz and the like: the nearest rate MP3 has
            rate = min(rates, key=lambda r: abs(r - rate)) if rates else 44100
        mp3 = output.add_stream("libmp3lame", rate=rate, layout="stereo" if channels == 2 else "mono")
        mp3.bit_rate = _BITRATE_PER_CHANNEL * channels
        # Demuxed in file order (already interleaved), so the muxer queues next to nothing: one
        # packet in memory at a time, plus the encoder's few frames of delay.
        for packet in source.demux(*source.streams.video, audio):
            if packet.stream.index == audio.index:
                # The encoder resamples and regroups samples into MP3's frame size itself.
                for frame in packet.decode():
                    output.mux(mp3.encode(frame))
            elif packet.dts is not None:  # the demuxer's empty flush packet has none
                packet.stream = copies[packet.stream.index]
                output.mux(packet)
        output.mux(mp3.encode(None))
