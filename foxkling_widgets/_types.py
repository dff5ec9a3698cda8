"""The data the package passes around: requests going out, task snapshots coming back.

:class:`VideoRequest` and :class:`Segment` are what users build; ``to_payload`` turns them into
the wire body (omitting what the user left at the provider's default, never sending nulls).
:class:`Task` is one immutable snapshot of a task as the server reported it; ``Task.from_json``
accepts both documented response shapes (A: ``results``; B: ``output``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Union

from ._exceptions import InvalidRequestError, Problem
from ._secrets import scrub_data
from ._status import TaskStatus
from ._validation import MODEL_TEXT_TO_VIDEO, errors_only, validate_payload

__all__ = [
    "PROMPT_WITH_SEGMENTS",
    "Segment",
    "SegmentLike",
    "Task",
    "TaskError",
    "TaskStatus",
    "VideoRequest",
    "task_id_of",
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
    def coerce(cls, value: object) -> Segment | object:
        """Accept a Segment, a ``(prompt, duration)`` pair or a ``{prompt, duration}`` mapping.

        Anything else is returned unchanged, so that the validator (not a ``TypeError`` here)
        names what is wrong with it before anything is sent.
        """
        if isinstance(value, Segment):
            return value
        if isinstance(value, Mapping):
            return cls(value.get("prompt"), value.get("duration"))  # type: ignore[arg-type]
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return cls(value[0], value[1])
        return value


SegmentLike = Union[Segment, Mapping[str, Any], tuple[str, int]]


def _as_tuple(value: object) -> object:
    """Lists and tuples become tuples; ``None`` an empty tuple; anything else stays (for the validator)."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


@dataclass(frozen=True)
class VideoRequest:
    """A Kling V3 generation request, as a user describes it.

    Fields use the provider's defaults, so ``VideoRequest(prompt="a fox")`` is a 5 s, 720p, 16:9
    silent clip. ``segments`` makes it multi-shot: their durations must add up to ``duration``.
    Nothing is checked at construction (so a widget can hold a half-typed request); call
    :meth:`validate` or let the client do it before sending.

    ``segments`` takes a list or tuple of :class:`Segment` objects, ``(prompt, duration)`` pairs
    and ``{"prompt", "duration"}`` mappings; after construction it is a tuple in which every such
    item is a :class:`Segment`. Anything else (``segments`` that is not a list, an item that is a
    number or a three-item list) is kept as given, so that :meth:`validate` names it rather than
    a ``TypeError`` here; :attr:`shots` is the typed view that holds only the :class:`Segment`
    items. ``voice_ids`` likewise becomes a tuple.
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
        # Frozen and hashable: store sequences as tuples, segments as Segment objects. A value of
        # the wrong type is kept as it is (never split: "v1" must not become ("v", "1")), so the
        # validator reports it as an InvalidRequestError before anything is sent.
        object.__setattr__(self, "voice_ids", _as_tuple(self.voice_ids))
        segments = _as_tuple(self.segments)
        if isinstance(segments, tuple):
            segments = tuple(Segment.coerce(s) for s in segments)
        object.__setattr__(self, "segments", segments)

    @property
    def shots(self) -> tuple[Segment, ...]:
        """The well-formed segments as :class:`Segment` objects (typed view of ``segments``)."""
        if not isinstance(self.segments, tuple):
            return ()
        return tuple(s for s in self.segments if isinstance(s, Segment))

    def to_payload(self) -> dict[str, Any]:
        """The JSON body for ``POST /v1/videos/generations``.

        Optional fields equal to the provider's default are omitted (the docs: "do not pass unless
        necessary"); ``None`` is never emitted. ``duration`` is always sent with segments so the
        server checks the sum against the value the user saw.
        """
        body: dict[str, Any] = {"model": self.model}
        segments = self.segments
        if self.prompt or not segments or PROMPT_WITH_SEGMENTS:
            body["prompt"] = self.prompt
        for name, default in _DEFAULTS.items():
            value = getattr(self, name)
            if value is not None and (value != default or type(value) is not type(default)):
                body[name] = value
        if self.voice_ids:
            body["voice_ids"] = list(self.voice_ids) if isinstance(self.voice_ids, tuple) else self.voice_ids
        if segments:
            body["duration"] = self.duration
            body["multi_prompt"] = (
                [s.to_payload() if isinstance(s, Segment) else s for s in segments]
                if isinstance(segments, tuple)
                else segments
            )
        return body

    @classmethod
    def from_payload(cls, body: Mapping[str, Any]) -> VideoRequest:
        """Rebuild a request from a wire body (e.g. a journal entry or a task card)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in body.items() if k in known and v is not None}
        if body.get("multi_prompt"):
            kwargs["segments"] = body["multi_prompt"]
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


#: Longest server text kept on a task (messages, codes, URLs): enough to read, never a flood.
MAX_TEXT = 2000
MAX_ID = 256


def _text(value: object, limit: int = MAX_TEXT) -> str | None:
    """A server value as text when it is a string or a plain number, capped; else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value[:limit] if value else None
    if isinstance(value, int):
        return str(value)[:limit]
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)[:limit]
    return None


def task_id_of(body: object) -> str:
    """The task id in a submit or poll answer (``id``, else ``task_id``), or ``""`` when there is none.

    Only a non-empty string (or a whole number) of at most ``MAX_ID`` characters counts: a
    server that sends an object or a megabyte there has not told us an id.
    """
    if not isinstance(body, Mapping):
        return ""
    envelope = body.get("data")
    if isinstance(envelope, Mapping) and "id" not in body and "task_id" not in body:
        body = envelope  # {"code": 0, "data": {"id": ...}}: a gateway's envelope around the answer
    for name in ("id", "task_id"):
        value = body.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str) and value.strip() and len(value) <= MAX_ID:
            return value.strip()
    return ""


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
            code = _text(value.get("code"), 200)
            return cls(
                code=code,
                message=_text(value.get("message")) or code or "the task failed",
                type=_text(value.get("type"), 200),
            )
        return cls(code=None, message=_text(value) or "the task failed")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"code": self.code, "message": self.message, "type": self.type}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first_result(body: Mapping[str, Any]) -> Mapping[str, Any]:
    results = body.get("results")
    if isinstance(results, list) and results:
        return _mapping(results[0])
    return {}


def _number(value: object) -> float | None:
    """A finite number from a number or numeric string; ``None`` for anything else (NaN, inf, junk)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _urls(first: Mapping[str, Any], output: Mapping[str, Any]) -> list[str]:
    extra = output.get("urls")
    candidates = [first.get("url"), output.get("url"), *(extra if isinstance(extra, list) else [])]
    urls: list[str] = []
    for candidate in candidates:
        if isinstance(candidate, str) and candidate and len(candidate) <= MAX_TEXT and candidate not in urls:
            urls.append(candidate)
    return urls


@dataclass(frozen=True)
class Task:
    """One snapshot of a task, as the server last reported it.

    ``status`` is the normalised state (one of the provider's: ``_status.PROVIDER``, never a
    widget's own such as ``queued``), ``status_text`` the server's own string. A task is
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
        """Parse a submit or poll response in either documented shape.

        Lenient by design: whatever one field holds (a wrong type, NaN, ``1e999``, null, a
        nested object), it falls back to a default and parsing carries on. It never raises for
        a JSON object, so a paid task's id is never lost to an odd neighbouring field.
        """
        original = _mapping(body)
        # Server text is scrubbed of the key here, at the boundary, so no status text, error or
        # raw body can carry an echoed key into a card, a cell output or an exception. The id and
        # the result URLs are kept as sent: they are what finds the paid task and its video.
        body = scrub_data(dict(original))
        first = _first_result(body)
        task_info = _mapping(body.get("task_info"))
        usage = _mapping(body.get("usage"))
        urls = _urls(_first_result(original), _mapping(original.get("output")))
        status_text = _text(body.get("status"), 100) or "pending"
        status = TaskStatus.parse(status_text)
        progress = _number(body.get("progress")) or 0.0
        error_body = body.get("error")
        error = TaskError.from_json(error_body) if (error_body or status.is_failure) else None
        created = _number(body.get("created"))
        estimated = _number(task_info.get("estimated_time"))
        return cls(
            id=task_id_of(original),
            status=status,
            progress=max(0.0, min(100.0, progress)),
            model=_text(body.get("model"), 200),
            # Unix seconds between 1970 and 5138: anything else is not a time.
            created=int(created) if created is not None and 0 <= created < 1e11 else None,
            estimated_time=estimated if estimated is not None and estimated >= 0 else None,
            credits_reserved=_number(usage.get("credits_reserved")),
            video_url=urls[0] if urls else None,
            video_urls=tuple(urls),
            voice_id=_text(first.get("voice_id"), MAX_ID),
            error=error,
            status_text=status_text,
            raw=body,
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
