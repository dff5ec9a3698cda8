"""A fragmented-MP4 copy of a cached clip, made while it is sent, for progressive playback.

A view with Media Source Extensions asks for ``container: "fmp4"`` (docs/widget-protocol.md,
"Progressive playback"): it appends the bytes to a ``SourceBuffer`` as they arrive, so the clip
plays from its first fragment instead of after its last byte. A browser's ``SourceBuffer`` takes
only fragmented MP4 (``moov`` with no samples, then ``moof``/``mdat`` pairs), so
:func:`fmp4_chunks` remuxes the file with PyAV: every packet copied as it is (no re-encoding, the
same bytes and quality, like ``mp3_copy`` in ``_remux.py``), into a muxer that writes to memory
and hands each chunk out as soon as it is muxed. Nothing is written to disk and the kernel holds
at most a fragment and a chunk, whatever the clip's size.

The first chunk is cut right after the first fragment (the init segment and the frames of the
first :data:`FRAGMENT_US`), so it carries exactly what the first frame needs: the transport's
scheduler sends every transfer's first chunk before any later one (``_transport.py``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

__all__ = ["FRAGMENT_US", "MOVFLAGS", "fmp4_chunks", "fmp4_mime"]

logger = logging.getLogger("foxkling_widgets")

#: A fragment starts at each keyframe and at least this often (microseconds). The muxer holds a
#: fragment (twice, while it grows), so this bounds the kernel's memory by the clip's rate, not its
#: size (measured at 80 Mbit/s: +12 MB at 125 ms, +17 MB at 500 ms); and the first fragment, all
#: the first frame waits for, stays under a chunk. The ``moof`` boxes cost ~0.01 % of the bytes.
FRAGMENT_US: Final = 125_000
#: Fragmented MP4 a SourceBuffer accepts: an empty ``moov`` first, a fragment per keyframe (and per
#: ``FRAGMENT_US``), offsets relative to each ``moof``; no trailer (``mfra``), which a stream never needs.
MOVFLAGS: Final = "frag_keyframe+empty_moov+default_base_moof+skip_trailer"


def fmp4_mime(path: Path) -> str | None:
    """The MIME type with codecs (``video/mp4; codecs="avc1.64002a, mp4a.40.2"``) of ``path``'s
    fragmented copy, or ``None`` when it has none: not H.264 video, audio other than AAC-LC, or a
    file PyAV cannot open. The view asks ``MediaSource.isTypeSupported`` with it. Never raises.
    """
    try:
        import av  # here, not at the top: importing the widget stays quick

        with av.open(str(path)) as source:
            return _mime(source)
    except Exception as error:  # noqa: BLE001  (the whole file, sent as it is, is always an answer)
        logger.info("no fragmented copy of %s: %s: %s", path.name, type(error).__name__, error)
        return None


def _mime(source: Any) -> str | None:
    videos = list(source.streams.video)
    if len(videos) != 1 or videos[0].codec_context.name != "h264":
        return None
    extradata = videos[0].codec_context.extradata or b""
    if len(extradata) < 4 or extradata[0] != 1:  # not an avcC record: no profile to name
        return None
    # RFC 6381: avc1.PPCCLL from the avcC record's profile, constraint flags and level bytes.
    codecs = [f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"]
    audios = list(source.streams.audio)
    if len(audios) > 1:
        return None
    if audios:
        audio = audios[0].codec_context
        if audio.name != "aac" or (audio.profile or "LC") != "LC":
            return None  # HE-AAC and the rest: not worth a codec table; the original plays
        codecs.append("mp4a.40.2")
    return f'video/mp4; codecs="{", ".join(codecs)}"'


class _Sink:
    """The muxer's output, kept until the next chunk is taken (not seekable: PyAV then asks the
    muxer for no seeks). The muxer's writes are kept as they come, not grown into one buffer,
    so taking a chunk copies its bytes once and nothing is reallocated on the way.
    """

    def __init__(self) -> None:
        self._parts: deque[bytes] = deque()
        self.size = 0
        self.fragmented = False  # a ``moof`` went by: the first fragment is complete

    def write(self, data: bytes) -> int:
        part = bytes(data)
        if not self.fragmented and b"moof" in part:
            self.fragmented = True
        self._parts.append(part)
        self.size += len(part)
        return len(part)

    def take(self, size: int) -> bytes:
        """The first ``size`` bytes (at most what is here), removed; joined in one copy."""
        parts, got = [], 0
        while self._parts and got < size:
            part = self._parts.popleft()
            if got + len(part) > size:
                self._parts.appendleft(part[size - got :])
                part = part[: size - got]
            parts.append(part)
            got += len(part)
        self.size -= got
        return b"".join(parts)


def fmp4_chunks(path: Path, chunk_size: int) -> Iterator[tuple[bytes, bool]]:
    """``path`` as fragmented MP4, in chunks ``(bytes, last)``: the first up to the end of the first
    fragment, then ``chunk_size`` bytes each; the last one (``True``) is what closing the muxer
    wrote, never empty (the muxer writes the last fragment then). Closing the iterator closes the files.
    """
    import av

    sink = _Sink()
    options = {"movflags": MOVFLAGS, "frag_duration": str(FRAGMENT_US), "flush_packets": "1"}
    with av.open(str(path)) as source:
        streams = [*source.streams.video, *source.streams.audio]
        with av.open(sink, "w", format="mp4", options=options) as output:
            copies = {s.index: output.add_stream_from_template(s) for s in streams}
            first = True
            # Demuxed in file order (already interleaved): the muxer holds one fragment at most.
            for packet in source.demux(*streams):
                if packet.dts is None:  # the demuxer's empty flush packet
                    continue
                packet.stream = copies[packet.stream.index]
                output.mux(packet)
                if first:
                    # flush_packets: a finished fragment is in the sink once mux returns.
                    if not sink.fragmented:
                        continue
                    first = False
                    yield sink.take(sink.size), False
                while sink.size >= chunk_size:
                    yield sink.take(chunk_size), False
        # Leaving the ``with`` wrote the last fragment: the rest, the last chunk said to be last
        # (not looked ahead for: that would hold one more chunk).
        while sink.size > chunk_size:
            yield sink.take(chunk_size), False
        yield sink.take(chunk_size), True
