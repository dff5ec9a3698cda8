"""The data the package passes around: requests going out, task snapshots coming back.

:class:`VideoRequest` and :class:`Segment` are what users build; ``to_payload`` turns them into
the wire body (omitting what the user left at the provider's default, never sending nulls).
:class:`Task` is one immutable snapshot of a task as the server reported it; ``Task.from_json``
accepts both documented response shapes (A: ``results``; B: ``output``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Union

from ._exceptions import InvalidRequestError, Problem
from ._validation import MODEL_TEXT_TO_VIDEO, errors_only, validate_payload

__all__ = [
    "PROMPT_WITH_SEGMENTS",
    "Segment",
    "SegmentLike",
    "Task",
    "TaskError",
    "TaskStatus",
    "VideoRequest",
]

#: The contract is contradictory on whether a top-level ``prompt`` may accompany ``multi_prompt``
#: (V3 page: required; O3 pages: mutually exclusive; the operator's own client omits it).
#: This is the one switch: ``False`` sends segments without a top-level prompt unless the user
#: typed one, which is what the operator's client does.
PROMPT_WITH_SEGMENTS = False

_DEFAULTS: dict[str, Any] = {
    "resolution": "720p",
    "aspect_ratio": "16:9",
    "duration": 5,
    "generate_audio": False,
    "negative_prompt": "",
}


@dataclass(frozen=True)
class Segment:
    """One shot of a multi-shot clip: what happens, and for how many whole seconds."""

    prompt: str
    duration: int

    def to_payload(self) -> dict[str, Any]:
        """The ``multi_prompt`` item on the wire."""
        return {"prompt": self.prompt, "duration": self.duration}

    @classmethod
    def parse(cls, text: str) -> Segment:
        """Parse the command-line form ``"what happens:SECONDS"`` (the last colon splits)."""
        prompt, sep, seconds = text.rpartition(":")
        if not sep or not seconds.strip().isdigit() or not prompt.strip():
            raise ValueError(f'segment {text!r} must look like "what happens:SECONDS"')
        return cls(prompt.strip(), int(seconds))

    @classmethod
    def coerce(cls, value: SegmentLike) -> Segment:
        """Accept a Segment, a ``(prompt, duration)`` pair or a ``{prompt, duration}`` mapping."""
        if isinstance(value, Segment):
            return value
        if isinstance(value, Mapping):
            return cls(value.get("prompt"), value.get("duration"))  # type: ignore[arg-type]
        prompt, duration = value
        return cls(prompt, duration)


SegmentLike = Union[Segment, Mapping[str, Any], tuple[str, int]]


@dataclass(frozen=True)
class VideoRequest:
    """A Kling V3 generation request, as a user describes it.

    Fields use the provider's defaults, so ``VideoRequest(prompt="a fox")`` is a 5 s, 720p, 16:9
    silent clip. ``segments`` makes it multi-shot: their durations must add up to ``duration``.
    Nothing is checked at construction (so a widget can hold a half-typed request); call
    :meth:`validate` or let the client do it before sending.
    """

    prompt: str = ""
    resolution: str = "720p"
    aspect_ratio: str = "16:9"
    duration: int = 5
    generate_audio: bool = False
    negative_prompt: str = ""
    voice_ids: Sequence[str] = ()
    segments: Sequence[SegmentLike] = ()
    model: str = MODEL_TEXT_TO_VIDEO

    def __post_init__(self) -> None:
        # Frozen and hashable: store sequences as tuples, segments as Segment objects.
        object.__setattr__(self, "voice_ids", tuple(self.voice_ids or ()))
        object.__setattr__(self, "segments", tuple(Segment.coerce(s) for s in (self.segments or ())))

    @property
    def shots(self) -> tuple[Segment, ...]:
        """The segments as :class:`Segment` objects (typed view of ``segments``)."""
        return tuple(Segment.coerce(s) for s in self.segments)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body for ``POST /v1/videos/generations``.

        Optional fields equal to the provider's default are omitted (the docs: "do not pass unless
        necessary"); ``None`` is never emitted. ``duration`` is always sent with segments so the
        server checks the sum against the value the user saw.
        """
        body: dict[str, Any] = {"model": self.model}
        shots = self.shots
        if self.prompt or not shots or PROMPT_WITH_SEGMENTS:
            body["prompt"] = self.prompt
        for name, default in _DEFAULTS.items():
            value = getattr(self, name)
            if value is not None and (value != default or type(value) is not type(default)):
                body[name] = value
        if self.voice_ids:
            body["voice_ids"] = list(self.voice_ids)
        if shots:
            body["duration"] = self.duration
            body["multi_prompt"] = [s.to_payload() for s in shots]
        return body

    @classmethod
    def from_payload(cls, body: Mapping[str, Any]) -> VideoRequest:
        """Rebuild a request from a wire body (e.g. a journal entry or a task card)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in body.items() if k in known and v is not None}
        if body.get("multi_prompt"):
            kwargs["segments"] = tuple(Segment.coerce(s) for s in body["multi_prompt"])
        return cls(**kwargs)

    def problems(self) -> list[Problem]:
        """Every error and warning for this request (see :mod:`foxkling_widgets._validation`)."""
        return validate_payload(self.to_payload())

    def validate(self) -> list[Problem]:
        """Raise :class:`InvalidRequestError` listing every error; return the warnings."""
        problems = self.problems()
        errors = errors_only(problems)
        if errors:
            raise InvalidRequestError.from_problems(errors)
        return [p for p in problems if p.level == "warning"]

    def replace(self, **changes: Any) -> VideoRequest:
        """A copy with some fields changed."""
        return replace(self, **changes)


class TaskStatus(str, enum.Enum):
    """Task states. ``UNKNOWN`` stands for any status string the contract does not name."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> TaskStatus:
        """Map a server string to a status; unknown strings become ``UNKNOWN`` (still running)."""
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_failure(self) -> bool:
        """Failed or cancelled: terminal, and no result will come."""
        return self in (TaskStatus.FAILED, TaskStatus.CANCELLED)


@dataclass(frozen=True)
class TaskError:
    """Why a task failed: the provider's ``code`` (open string) and ``message``."""

    code: str | None
    message: str
    type: str | None = None

    @classmethod
    def from_json(cls, value: object) -> TaskError:
        """Accept ``{code, message, type}``, a bare string, or anything else the server sends."""
        if isinstance(value, Mapping):
            code = value.get("code")
            return cls(
                code=str(code) if code is not None else None,
                message=str(value.get("message") or code or "the task failed"),
                type=str(value["type"]) if value.get("type") else None,
            )
        return cls(code=None, message=str(value) if value else "the task failed")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"code": self.code, "message": self.message, "type": self.type}


def _first_result(body: Mapping[str, Any]) -> Mapping[str, Any]:
    results = body.get("results")
    if isinstance(results, list) and results and isinstance(results[0], Mapping):
        return results[0]
    return {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Task:
    """One snapshot of a task, as the server last reported it.

    ``status`` is the normalised state, ``status_text`` the server's own string. A task is
    :attr:`done` only when it is completed *and* carries its result: the provider has been seen
    to report ``completed`` before attaching the URL, which is not terminal.
    """

    id: str
    status: TaskStatus = TaskStatus.PENDING
    progress: float = 0.0
    model: str | None = None
    created: int | None = None
    estimated_time: float | None = None
    credits_reserved: float | None = None
    video_url: str | None = None
    video_urls: tuple[str, ...] = ()
    voice_id: str | None = None
    error: TaskError | None = None
    status_text: str = "pending"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Task:
        """Parse a submit or poll response in either documented shape."""
        first = _first_result(body)
        output = body.get("output") if isinstance(body.get("output"), Mapping) else {}
        assert isinstance(output, Mapping)
        urls: list[str] = []
        for candidate in (first.get("url"), output.get("url"), *(output.get("urls") or [])):
            if isinstance(candidate, str) and candidate and candidate not in urls:
                urls.append(candidate)
        task_info = body.get("task_info") if isinstance(body.get("task_info"), Mapping) else {}
        usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
        assert isinstance(task_info, Mapping) and isinstance(usage, Mapping)
        status_text = str(body.get("status") or "pending")
        status = TaskStatus.parse(status_text)
        progress = _number(body.get("progress")) or 0.0
        error_body = body.get("error")
        error = TaskError.from_json(error_body) if (error_body or status.is_failure) else None
        voice = first.get("voice_id")
        created = _number(body.get("created"))
        return cls(
            id=str(body.get("id") or body.get("task_id") or ""),
            status=status,
            progress=max(0.0, min(100.0, progress)),
            model=str(body["model"]) if body.get("model") else None,
            created=int(created) if created is not None else None,
            estimated_time=_number(task_info.get("estimated_time")),
            credits_reserved=_number(usage.get("credits_reserved")),
            video_url=urls[0] if urls else None,
            video_urls=tuple(urls),
            voice_id=str(voice) if voice else None,
            error=error,
            status_text=status_text,
            raw=dict(body),
        )

    @property
    def done(self) -> bool:
        """Completed with its result attached (a URL, or a voice id for create-voice tasks)."""
        return self.status is TaskStatus.COMPLETED and bool(self.video_url or self.voice_id)

    @property
    def failed(self) -> bool:
        """Failed or cancelled: terminal without a result."""
        return self.status.is_failure

    @property
    def terminal(self) -> bool:
        """No further polling will change this task."""
        return self.done or self.failed

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (for the journal and the widget)."""
        return {
            "id": self.id,
            "status": self.status.value,
            "status_text": self.status_text,
            "progress": self.progress,
            "model": self.model,
            "created": self.created,
            "estimated_time": self.estimated_time,
            "credits_reserved": self.credits_reserved,
            "video_url": self.video_url,
            "voice_id": self.voice_id,
            "error": self.error.to_dict() if self.error else None,
        }


def segments_from(items: Iterable[SegmentLike]) -> tuple[Segment, ...]:
    """Coerce any iterable of segment-likes (used by the CLI and the widget)."""
    return tuple(Segment.coerce(s) for s in items)
