"""Checking an explicit batch (``KlingWidget.generate_batch(requests)``) before its first POST.

A batch starts entirely or not at all: every member is validated with the same rules as a single
generation, and any problem names the member (``requests[2].prompt``) so nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _variations
from ._exceptions import InvalidRequestError, Problem
from ._types import VideoRequest
from ._validation import errors_only, validate_payload

__all__ = ["as_request", "checked_batch"]


def as_request(request: VideoRequest | Mapping[str, Any], index: int) -> VideoRequest:
    """A batch member as a :class:`VideoRequest`; an unknown field is an :class:`InvalidRequestError`."""
    if isinstance(request, VideoRequest):
        return request
    try:
        return VideoRequest(**request)
    except TypeError as error:  # an unknown field: a bad request, so a ValueError like the others
        raise InvalidRequestError.from_problems(
            [Problem(f"requests[{index}]", f"The request at index {index} cannot be a VideoRequest: {error}.")]
        ) from None


def checked_batch(
    requests: Sequence[VideoRequest | Mapping[str, Any]],
    labels: Sequence[str] | None,
    extra: Sequence[Problem] = (),
) -> tuple[list[VideoRequest], list[str]]:
    """The batch's requests and labels, or :class:`InvalidRequestError` naming every problem.

    ``extra`` are the studio's own problems (no key) that refuse any batch.
    """
    built = [as_request(r, i) for i, r in enumerate(requests)]
    if not built:
        raise InvalidRequestError.from_problems(
            [Problem("requests", "The batch is empty: give it at least one request.")]
        )
    if len(built) > _variations.MAX_BATCH:
        raise InvalidRequestError.from_problems(
            [
                Problem(
                    "requests",
                    f"The batch has {len(built)} requests; a batch takes at most {_variations.MAX_BATCH}.",
                )
            ]
        )
    errors = [
        Problem(f"requests[{i}].{p.field}", p.message)
        for i, r in enumerate(built)
        for p in errors_only(validate_payload(r.to_payload()))
    ]
    errors += extra
    if errors:
        raise InvalidRequestError.from_problems(errors)
    names = list(labels) if labels is not None else _variations.labels(built)
    if len(names) != len(built):
        raise ValueError(f"{len(names)} labels for {len(built)} requests")
    return built, names
