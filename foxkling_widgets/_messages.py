"""The widget's message kinds and message shapes, defined once on the kernel side.

Keep in sync with ``js/src/protocol.js`` (``KIND``, ``INCOMING`` and its JSDoc typedefs) and
``docs/widget-protocol.md``. Every request is ``{id, kind, ...}``; its answer echoes the ``id``
with ``kind: "<kind>-response"`` (``video-response`` for a ``video-request``). The ``TypedDict``
types say what each body holds; the kernel still checks every field of an incoming message,
since a front end of another version may send anything.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

__all__ = [
    "CARDS_PROGRESS",
    "CLEAR_FINISHED",
    "CLEAR_KEY",
    "CREATE_VOICE",
    "ERROR_RESPONSE",
    "GENERATE",
    "KINDS",
    "LOAD_TASK",
    "RESUME",
    "SET_KEY",
    "STOP_WATCHING",
    "VIDEO_ACK",
    "VIDEO_CANCEL",
    "VIDEO_PROBE",
    "VIDEO_REQUEST",
    "VIDEO_RESPONSE",
    "CardProgress",
    "CardsProgress",
    "ClearFinishedRequest",
    "ClearFinishedResponse",
    "ClearKeyRequest",
    "CreateVoiceRequest",
    "CreateVoiceResponse",
    "GenerateRequest",
    "GenerateResponse",
    "KeyResponse",
    "LoadTaskRequest",
    "OkResponse",
    "ResumeRequest",
    "ResumeResponse",
    "SetKeyRequest",
    "StopWatchingRequest",
    "VideoAckRequest",
    "VideoCancelRequest",
    "VideoProbeRequest",
    "VideoProbeResponse",
    "VideoRequestMessage",
    "VideoResponse",
    "cards_progress",
]

# -- front end -> kernel --------------------------------------------------------------------
GENERATE: Final = "generate"
STOP_WATCHING: Final = "stop-watching"
RESUME: Final = "resume"  # follow a stopped generation again (it has a provider task id)
CLEAR_FINISHED: Final = "clear-finished"  # drop finished cards from the studio (the journal keeps them)
VIDEO_REQUEST: Final = "video-request"
SET_KEY: Final = "set-key"
CLEAR_KEY: Final = "clear-key"
LOAD_TASK: Final = "load-task"
CREATE_VOICE: Final = "create-voice"
VIDEO_ACK: Final = "video-ack"  # the front end has chunk `index` of transfer `transfer` (_transport.py)
VIDEO_CANCEL: Final = "video-cancel"  # stop sending transfer `transfer`
VIDEO_PROBE: Final = "video-probe"  # answered with a known buffer: does this host deliver binary buffers?
KINDS: Final = frozenset(
    {
        GENERATE,
        STOP_WATCHING,
        RESUME,
        CLEAR_FINISHED,
        VIDEO_REQUEST,
        SET_KEY,
        CLEAR_KEY,
        LOAD_TASK,
        CREATE_VOICE,
        VIDEO_ACK,
        VIDEO_CANCEL,
        VIDEO_PROBE,
    }
)

# -- kernel -> front end ----------------------------------------------------------------------
ERROR_RESPONSE: Final = "error-response"  # the answer to a message whose kind is unusable
VIDEO_RESPONSE: Final = "video-response"  # the answer to a video-request (not "video-request-response")
#: Unsolicited, to every view: only progress/status_text changed (no request ``id``: not an answer).
CARDS_PROGRESS: Final = "cards-progress"


# -- bodies -------------------------------------------------------------------------------------
class GenerateRequest(TypedDict):
    """``generate``: the kernel reads the controls' traits (the front end saves them first)."""

    id: str
    kind: Literal["generate"]


class _GenerateAnswer(TypedDict):
    id: str | None
    kind: Literal["generate-response"]
    ok: bool


class GenerateResponse(_GenerateAnswer, total=False):
    """``generate-response``: ``task_id`` is the generation's stable key (``batch-…`` in grid mode)."""

    task_id: str
    error: str
    field: str | None


class CreateVoiceRequest(TypedDict):
    """``create-voice``: the kernel reads ``voice_url``/``voice_name`` (then clears them)."""

    id: str
    kind: Literal["create-voice"]


class _CreateVoiceAnswer(TypedDict):
    id: str | None
    kind: Literal["create-voice-response"]
    ok: bool


class CreateVoiceResponse(_CreateVoiceAnswer, total=False):
    """``create-voice-response``: ``task_id`` is the voice card's stable key."""

    task_id: str
    error: str
    field: str | None


class SetKeyRequest(TypedDict):
    """``set-key``: the key, kept in kernel memory only."""

    id: str
    kind: Literal["set-key"]
    key: str


class ClearKeyRequest(TypedDict):
    """``clear-key``: forget the pasted key."""

    id: str
    kind: Literal["clear-key"]


class _KeyAnswer(TypedDict):
    id: str | None
    kind: Literal["set-key-response", "clear-key-response"]
    ok: bool
    mode: str


class KeyResponse(_KeyAnswer, total=False):
    """``set-key-response`` / ``clear-key-response``: where generations go now."""

    error: str
    field: str


class StopWatchingRequest(TypedDict):
    """``stop-watching``: ``task_id`` is the card's ``id`` (the provider's id is accepted too)."""

    id: str
    kind: Literal["stop-watching"]
    task_id: str


class ResumeRequest(TypedDict):
    """``resume``: follow a stopped generation again; ``task_id`` is the card's ``id``."""

    id: str
    kind: Literal["resume"]
    task_id: str


class _ResumeAnswer(TypedDict):
    id: str | None
    kind: Literal["resume-response"]
    ok: bool


class ResumeResponse(_ResumeAnswer, total=False):
    """``resume-response``: whether it is being followed again, else why not."""

    error: str


class LoadTaskRequest(TypedDict):
    """``load-task``: put that generation's settings back into the controls."""

    id: str
    kind: Literal["load-task"]
    task_id: str


class ClearFinishedRequest(TypedDict):
    """``clear-finished``: drop finished generations from the studio's list."""

    id: str
    kind: Literal["clear-finished"]


class ClearFinishedResponse(TypedDict):
    """``clear-finished-response``: how many cards were dropped."""

    id: str | None
    kind: Literal["clear-finished-response"]
    ok: bool
    cleared: int


class _VideoAsk(TypedDict):
    id: str
    kind: Literal["video-request"]
    task_id: str


class VideoRequestMessage(_VideoAsk, total=False):
    """``video-request``: the card's ``id``, how to send the bytes, whether a provider URL may do."""

    encoding: Literal["binary", "base64"]
    direct: bool
    audio: Literal["mp3"]
    container: Literal["fmp4"]  # progressive playback: fragmented MP4 made while it is sent


class _Answer(TypedDict):
    id: str | None
    kind: str
    ok: bool


class _VideoAnswer(TypedDict):
    id: str | None
    kind: Literal["video-response"]
    ok: bool


class VideoResponse(_VideoAnswer, total=False):
    """``video-response``: a provider ``url`` to play, or a header (chunks follow), or ``error``."""

    task_id: str
    mime: str
    name: str
    url: str
    total: int
    chunks: int
    chunk_size: int
    window: int
    encoding: Literal["binary", "base64"]
    container: Literal["fmp4"]  # a stream: no total or chunks (the last chunk says), an estimate
    estimate: int
    error: str


class VideoAckRequest(TypedDict):
    """``video-ack``: the view has chunk ``index`` of transfer ``transfer`` (its request's id)."""

    id: str
    kind: Literal["video-ack"]
    transfer: str
    index: int


class VideoCancelRequest(TypedDict):
    """``video-cancel``: stop sending transfer ``transfer``."""

    id: str
    kind: Literal["video-cancel"]
    transfer: str


class VideoProbeRequest(TypedDict):
    """``video-probe``: answered with a known 4-byte buffer (does this host deliver binary buffers?)."""

    id: str
    kind: Literal["video-probe"]


class VideoProbeResponse(TypedDict):
    """``video-probe-response``: ``size`` bytes in ``buffers[0]``."""

    id: str | None
    kind: Literal["video-probe-response"]
    ok: bool
    size: int


class OkResponse(_Answer, total=False):
    """The plain answer of most commands (``stop-watching-response``, ``load-task-response``, ...)."""

    error: str


class CardProgress(TypedDict):
    """One card's moving parts, as ``cards-progress`` carries them."""

    id: str
    progress: float
    status_text: str


class CardsProgress(TypedDict):
    """``cards-progress``: apply these to the cards shown, without rebuilding them."""

    kind: Literal["cards-progress"]
    cards: list[CardProgress]


def cards_progress(cards: list[CardProgress]) -> dict[str, Any]:
    """The ``cards-progress`` message for ``cards`` (a plain dict, as ``send`` takes it)."""
    message: CardsProgress = {"kind": CARDS_PROGRESS, "cards": cards}
    return dict(message)
