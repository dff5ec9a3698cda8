"""Render a storyboard MP4 of a request: real H.264 video (and AAC audio) that any browser plays.

The emulator stands in for Kling, so its video shows what was asked rather than trying to look
like it: the prompt, the current shot's number and prompt during its time range, the negative
prompt (what to keep out), a timecode, a progress strip and some motion so playback is visibly
running. Frames are preview-sized (640 px on the long side): the emulator never renders 1080p or
4k pixels.

Speed matters (a 10 s clip must render in well under 2 s on two cores): each shot's static
layer is drawn once, and each frame only pastes it and draws the moving parts.

Real sizes (``real_size=True``): a preview clip is ~100 KB, a real one 5-30 MB at 1080p and
50-120 MB at 4k, and downloads, the cache and the kernel-to-browser transport must be tried at
those sizes. The frames stay preview-sized (so rendering stays fast), and each video sample gets
an H.264 *filler data* NAL unit (type 12, which every decoder discards) sized so the file grows at
the tier's bitrate (:data:`REAL_BITRATES`) frame by frame. The padding is therefore spread through
``mdat`` in time order like real media, not piled at the end: the first second of playback needs
the first second's bytes, as with a real file. Audio is encoded in step with the video so the
muxer never queues packets (it would otherwise hold every padded video packet waiting for audio),
and ``moov`` is moved to the front (faststart) so a browser can start before the end. Each filler
unit is one frame's worth (~0.4 MB at 4k), so memory stays flat whatever the file size.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["FRAME_SIZES", "REAL_BITRATES", "VideoInfo", "real_size_bytes", "render_video"]

#: Preview frame size per aspect ratio (even numbers, as yuv420p requires).
FRAME_SIZES = {"16:9": (640, 360), "9:16": (360, 640), "1:1": (480, 480)}
FPS = 24
SAMPLE_RATE = 44100
#: Whole-file bitrate (video + audio, bits per second) of a real clip per resolution tier, which
#: ``real_size`` renders reach. Real Kling files are 5-30 MB at 1080p and 50-120 MB at 4k:
#: 720p ~4 Mbit/s (a 10 s clip ~5 MB), 1080p ~10 Mbit/s (5 s ~6 MB, 10 s ~12.5 MB),
#: 4k ~80 Mbit/s (5 s ~50 MB, 10 s ~100 MB). The aspect ratio does not change the tier's rate.
REAL_BITRATES = {"720p": 4_000_000, "1080p": 10_000_000, "4k": 80_000_000}
#: The H.264 level a real clip of the tier would declare; its maximum bitrate covers the tier's
#: rate (baseline: 3.1 = 14, 4.0 = 20, 5.1 = 240 Mbit/s), so the padded stream stays within its level.
_REAL_LEVELS = {"720p": "3.1", "1080p": "4.0", "4k": "5.1"}
# An Annex B filler data NAL unit is a start code, the header byte 0x0C (nal_ref_idc 0, type 12),
# 0xFF payload bytes and the rbsp stop bit. x264 hands the muxer Annex B, which rewrites each start
# code as a 4-byte length: the unit costs 6 bytes in the file beyond its payload.
_FILLER_HEAD = b"\x00\x00\x00\x01\x0c"
_FILLER_TAIL = b"\x80"
_FILLER_OVERHEAD = len(_FILLER_HEAD) + len(_FILLER_TAIL)
_AUDIO_CHUNK = 1024  # samples per AAC frame
_PALETTE = [(28, 58, 94), (94, 40, 62), (30, 88, 70), (96, 72, 24), (60, 44, 104), (24, 84, 96)]
_FONT_CANDIDATES = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "wqy-microhei.ttc",
    "DejaVuSans.ttf",
)


@dataclass(frozen=True)
class VideoInfo:
    """What was rendered: frame size, exact duration, whether there is audio, file size."""

    width: int
    height: int
    duration: float
    has_audio: bool
    size: int


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    # Prefer a font with CJK glyphs so Chinese prompts are readable; fontconfig knows where
    # fonts live on this system, and a few standard directories cover systems without it.
    if shutil.which("fc-match"):
        for family in ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "DejaVu Sans"):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                found = subprocess.run(
                    ["fc-match", "-f", "%{file}", family], capture_output=True, text=True, timeout=5, check=False
                ).stdout.strip()
                if found and Path(found).exists() and (family != "Noto Sans CJK SC" or "CJK" in found):
                    return found
    for root in ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"), "/Library/Fonts"):
        for name in _FONT_CANDIDATES:
            for match in Path(root).rglob(name) if Path(root).is_dir() else ():
                return str(match)
    return None


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path()
    if path:
        with contextlib.suppress(OSError):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _can_draw(text: str) -> bool:
    # Without a CJK font, Pillow draws boxes for CJK; fall back to a transliteration-free notice.
    path = _font_path() or ""
    return "CJK" in path or "wqy" in path.lower() or all(ord(ch) < 0x2E80 for ch in text)


def _wrap(text: str, width_chars: int, max_lines: int) -> list[str]:
    if not _can_draw(text):
        text = "(prompt in a script this machine has no font for; install fonts-noto-cjk to see it)"
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        # CJK has no spaces: wrap by characters when words are too long.
        wrapped = textwrap.wrap(paragraph, width_chars, break_long_words=True) or [""]
        lines.extend(wrapped)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: max(0, width_chars - 1)] + "…"]
    return lines


@dataclass(frozen=True)
class _Shot:
    index: int
    count: int
    prompt: str
    start: float
    end: float


def _shots(payload: Mapping[str, Any], duration: int) -> list[_Shot]:
    segments = payload.get("multi_prompt") or []
    if not segments:
        return [_Shot(0, 1, str(payload.get("prompt") or ""), 0.0, float(duration))]
    shots: list[_Shot] = []
    start = 0.0
    for i, segment in enumerate(segments):
        end = start + float(segment.get("duration") or 0)
        shots.append(_Shot(i, len(segments), str(segment.get("prompt") or ""), start, end))
        start = end
    return shots


def _static_layer(payload: Mapping[str, Any], shot: _Shot, size: tuple[int, int], voices: Sequence[str]) -> Image.Image:
    width, height = size
    base = _PALETTE[shot.index % len(_PALETTE)]
    # A vertical gradient, computed once per shot with numpy rather than per pixel in Python.
    ramp = np.linspace(0.55, 1.15, height, dtype=np.float32)[:, None, None]
    pixels = np.clip(np.array(base, dtype=np.float32)[None, None, :] * ramp, 0, 255).astype(np.uint8)
    image = Image.fromarray(np.repeat(pixels, width, axis=1), "RGB")
    draw = ImageDraw.Draw(image)
    margin = max(12, width // 24)
    small, medium = _font(max(12, width // 40)), _font(max(14, width // 28))
    chars = max(16, int(width / (medium.size if isinstance(medium, ImageFont.FreeTypeFont) else 8) * 1.7))
    y = margin
    meta = " · ".join(
        str(x)
        for x in (
            "FoxAPI emulator",
            payload.get("resolution", "720p"),
            payload.get("aspect_ratio", "16:9"),
            f"{payload.get('duration', 5)} s",
            "audio" if payload.get("generate_audio") else "silent",
        )
    )
    draw.text((margin, y), meta, font=small, fill=(230, 230, 230))
    y += int(small.size * 1.8) if isinstance(small, ImageFont.FreeTypeFont) else 20
    top_prompt = str(payload.get("prompt") or "")
    if top_prompt:
        for line in _wrap(top_prompt, chars, 3):
            draw.text((margin, y), line, font=medium, fill=(255, 255, 255))
            y += int(medium.size * 1.3) if isinstance(medium, ImageFont.FreeTypeFont) else 16
    if shot.count > 1 or not top_prompt:
        y += margin // 2
        label = f"Shot {shot.index + 1} of {shot.count} · {shot.start:.0f} to {shot.end:.0f} s"
        draw.text((margin, y), label, font=medium, fill=(255, 214, 102))
        y += int(medium.size * 1.5) if isinstance(medium, ImageFont.FreeTypeFont) else 18
        for line in _wrap(shot.prompt, chars, 4):
            draw.text((margin, y), line, font=medium, fill=(255, 255, 255))
            y += int(medium.size * 1.3) if isinstance(medium, ImageFont.FreeTypeFont) else 16
    bottom = height - margin * 3
    if voices:
        draw.text((margin, bottom), "Voices: " + ", ".join(voices), font=small, fill=(200, 230, 255))
        bottom -= int(small.size * 1.6) if isinstance(small, ImageFont.FreeTypeFont) else 18
    negative = str(payload.get("negative_prompt") or "").strip()
    if negative:  # what was asked includes what to keep out: a student sees the negative prompt arrive
        draw.text(
            (margin, bottom), "Keep out: " + _wrap(negative, chars * 4 // 3, 1)[0], font=small, fill=(255, 170, 170)
        )
    return image


def _audio(payload: Mapping[str, Any], shots: list[_Shot], duration: int, voices: Sequence[str]) -> np.ndarray:
    # A soft chord per shot (a different root each shot, shifted per voice) with a short fade at
    # each cut, so the track is audibly present and follows the storyboard.
    samples = duration * SAMPLE_RATE
    t = np.arange(samples, dtype=np.float32) / SAMPLE_RATE
    out = np.zeros(samples, dtype=np.float32)
    voice_shift = sum(ord(c) for c in "".join(voices)) % 5 if voices else 0
    for shot in shots:
        a, b = int(shot.start * SAMPLE_RATE), min(samples, int(shot.end * SAMPLE_RATE))
        if b <= a:
            continue
        root = 220.0 * 2 ** ((shot.index * 3 + voice_shift) / 12)
        seg_t = t[a:b]
        tone = sum(np.sin(2 * math.pi * root * ratio * seg_t) for ratio in (1.0, 1.25, 1.5)) / 3
        fade = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / (0.05 * SAMPLE_RATE))
        out[a:b] = 0.2 * tone * fade
    return out


def real_size_bytes(resolution: str, duration: float) -> int:
    """The size in bytes of a real clip of ``resolution`` (a tier of :data:`REAL_BITRATES`) lasting ``duration`` s."""
    return int(REAL_BITRATES.get(resolution, REAL_BITRATES["720p"]) * duration / 8)


class _Muxer:
    """Muxes packets and, for a real-size file, pads each video packet up to the byte budget so far.

    The budget grows linearly with the video packets muxed (packet ``k`` of ``n`` may bring the
    media to ``target * k / n`` bytes) and audio bytes count against it, so the file ends within
    a few kilobytes (the ``moov`` box) of ``target``. A packet already over budget (a keyframe at
    720p, say) gets no filler, and the next ones catch up, by at most one frame's worth each.
    """

    def __init__(self, container: Any, frames: int, target: int | None) -> None:
        self.container = container
        self.frames = frames
        self.target = target
        self.video_packets = 0
        self.written = 0
        # One frame's worth of filler at most; sliced, never rebuilt per frame.
        self._ff = memoryview(b"\xff" * (target // frames + 1 if target else 0))

    def audio(self, packets: Sequence[Any]) -> None:
        for packet in packets:
            self.written += packet.size
            self.container.mux(packet)

    def video(self, packets: Sequence[Any]) -> None:
        for packet in packets:
            if self.target is not None and packet.size:
                self.video_packets += 1
                budget = self.target * min(self.video_packets, self.frames) // self.frames
                fill = min(len(self._ff), budget - self.written - packet.size - _FILLER_OVERHEAD)
                if fill > 0:
                    packet = self._padded(packet, fill)
            self.written += packet.size
            self.container.mux(packet)

    def _padded(self, packet: Any, fill: int) -> Any:
        # Filler data must follow the picture's slices within its access unit (H.264 7.4.1.2.3),
        # so it goes after the encoder's NAL units, in the same sample.
        padded = av.Packet(b"".join((bytes(packet), _FILLER_HEAD, self._ff[:fill], _FILLER_TAIL)))
        padded.pts, padded.dts, padded.duration = packet.pts, packet.dts, packet.duration
        padded.time_base, padded.stream, padded.is_keyframe = packet.time_base, packet.stream, packet.is_keyframe
        return padded


def render_video(
    payload: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    voices: Mapping[str, str] | None = None,
    real_size: bool = False,
) -> VideoInfo:
    """Render ``payload`` (a submit body) to an MP4 at ``path``, atomically.

    ``voices`` maps voice ids to display names, shown on the storyboard when the request uses them.
    ``real_size`` makes the file as large as a real clip of the request's resolution tier
    (:func:`real_size_bytes`, within a few kilobytes), padded at the tier's bitrate throughout;
    the frames stay preview-sized either way.
    """
    size = FRAME_SIZES.get(str(payload.get("aspect_ratio", "16:9")), FRAME_SIZES["16:9"])
    duration = int(payload.get("duration", 5))
    resolution = str(payload.get("resolution", "720p"))
    audio_on = bool(payload.get("generate_audio"))
    voice_names = [(voices or {}).get(v, v) for v in payload.get("voice_ids") or []]
    shots = _shots(payload, duration)
    layers = [_static_layer(payload, shot, size, voice_names) for shot in shots]
    width, height = size
    total_frames = duration * FPS
    target = real_size_bytes(resolution, duration) if real_size and total_frames > 0 else None
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # +faststart needs a seekable real file (not BytesIO); write beside the target, then rename.
    fd, temp_name = tempfile.mkstemp(suffix=".mp4.part", dir=destination.parent)
    os.close(fd)
    try:
        with av.open(temp_name, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            video = container.add_stream("libx264", rate=FPS)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            # Baseline profile, no B-frames: the widest browser support (Chromium, Safari, VS Code).
            video.options = {"preset": "ultrafast", "profile": "baseline", "tune": "stillimage", "crf": "28"}
            if target is not None:
                video.options = {**video.options, "level": _REAL_LEVELS.get(resolution, _REAL_LEVELS["720p"])}
            audio_stream = None
            samples = np.zeros(0, dtype=np.float32)
            if audio_on:
                audio_stream = container.add_stream("aac", rate=SAMPLE_RATE)
                audio_stream.layout = "mono"
                samples = _audio(payload, shots, duration, voice_names)
            muxer = _Muxer(container, total_frames, target)
            audio_sent = 0

            def send_audio(until: int) -> None:
                # Audio follows the video frame by frame: the muxer interleaves by timestamp and
                # would otherwise queue every video packet (padding and all) until audio arrived.
                nonlocal audio_sent
                if audio_stream is None:
                    return
                while audio_sent < min(until, len(samples)):
                    piece = samples[audio_sent : audio_sent + _AUDIO_CHUNK]
                    audio_frame = av.AudioFrame.from_ndarray(piece[None, :], format="fltp", layout="mono")
                    audio_frame.sample_rate = SAMPLE_RATE
                    audio_frame.pts = audio_sent
                    audio_frame.time_base = Fraction(1, SAMPLE_RATE)
                    muxer.audio(audio_stream.encode(audio_frame))
                    audio_sent += len(piece)

            small = _font(max(12, width // 36))
            bar_h = max(6, height // 60)
            shot_of_frame = np.searchsorted([s.end for s in shots], (np.arange(total_frames) + 0.5) / FPS, side="right")
            for n in range(total_frames):
                seconds = n / FPS
                index = int(min(shot_of_frame[n], len(shots) - 1))
                frame_image = layers[index].copy()
                draw = ImageDraw.Draw(frame_image)
                # Motion: a dot orbiting the lower third, so a frozen player is obvious.
                cx = width / 2 + math.cos(seconds * 1.6) * width * 0.3
                cy = height * 0.72 + math.sin(seconds * 3.2) * height * 0.06
                r = max(6, width // 40)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 214, 102))
                draw.text(
                    (
                        width - width // 4,
                        height - bar_h - 4 - (small.size if isinstance(small, ImageFont.FreeTypeFont) else 12) - 6,
                    ),
                    f"{int(seconds // 60):02d}:{seconds % 60:05.2f}",
                    font=small,
                    fill=(255, 255, 255),
                )
                draw.rectangle((0, height - bar_h, width, height), fill=(0, 0, 0))
                draw.rectangle((0, height - bar_h, int(width * (n + 1) / total_frames), height), fill=(255, 214, 102))
                frame = av.VideoFrame.from_image(frame_image)  # type: ignore[no-untyped-call]
                frame.pts = n
                muxer.video(video.encode(frame))
                send_audio((n + 1) * SAMPLE_RATE // FPS)
            muxer.video(video.encode())
            if audio_stream is not None:
                send_audio(len(samples))
                muxer.audio(audio_stream.encode())
        os.replace(temp_name, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return VideoInfo(width, height, float(duration), audio_on, destination.stat().st_size)
