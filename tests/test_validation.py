"""Every request rule of the contract, checked by the one validator (pure, no I/O)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from foxkling_widgets import InvalidRequestError, Segment, VideoRequest
from foxkling_widgets._validation import (
    MODEL_CREATE_VOICE,
    MODEL_IMAGE_TO_VIDEO,
    validate_payload,
    validate_voice_url,
)


def error_fields(payload: dict[str, Any]) -> list[str]:
    return [p.field for p in validate_payload(payload) if p.level == "error"]


def base(**extra: Any) -> dict[str, Any]:
    return {"model": "kling-v3-text-to-video", "prompt": "a red fox in snow", **extra}


def test_minimal_request_is_valid() -> None:
    assert validate_payload(base()) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (base(prompt=""), "prompt"),
        (base(prompt="   "), "prompt"),
        (base(prompt="x" * 2501), "prompt"),
        ({"model": "kling-v3-text-to-video"}, "prompt"),
        (base(prompt=42), "prompt"),
        (base(resolution="8k"), "resolution"),
        (base(aspect_ratio="4:3"), "aspect_ratio"),
        (base(duration=7), "duration"),
        (base(duration="5"), "duration"),
        (base(duration=True), "duration"),
        (base(duration=5.0), "duration"),
        (base(generate_audio="yes"), "generate_audio"),
        (base(negative_prompt="x" * 2501), "negative_prompt"),
        (base(generate_audio=True, voice_ids=["a", "b", "c"]), "voice_ids"),
        (base(voice_ids=["a"]), "voice_ids"),
        (base(generate_audio=True, voice_ids=["a", "a"]), "voice_ids"),
        (base(generate_audio=True, voice_ids=[""]), "voice_ids"),
        (base(prompt="hello <<<voice_1>>>"), "prompt"),
        (base(prompt="<<<voice_2>>> speaks", generate_audio=True, voice_ids=["a"]), "prompt"),
        (base(resolution=None), "resolution"),
        ({"model": "kling-v9"}, "model"),
    ],
)
def test_each_rule_names_its_field(payload: dict[str, Any], field: str) -> None:
    assert field in error_fields(payload)


def test_voice_references_in_range_are_fine() -> None:
    payload = base(prompt="<<<voice_1>>> and <<<voice_2>>>", generate_audio=True, voice_ids=["a", "b"])
    assert error_fields(payload) == []


def segments(*pairs: Any) -> list[dict[str, Any]]:
    return [{"prompt": p, "duration": d} for p, d in pairs]


@pytest.mark.parametrize(
    ("multi_prompt", "duration", "field"),
    [
        (segments(("a", 6), ("b", 3)), 10, "multi_prompt"),  # sums to 9
        (segments(("a", 6), ("b", 6)), 10, "multi_prompt"),  # sums to 12
        (segments(("", 5)), 5, "multi_prompt[0].prompt"),
        (segments(("a", 2), ("  ", 3)), 5, "multi_prompt[1].prompt"),
        (segments(("a", 0), ("b", 5)), 5, "multi_prompt[0].duration"),
        (segments(("a", 2.5), ("b", 2.5)), 5, "multi_prompt[0].duration"),
        (segments(("a", True), ("b", 4)), 5, "multi_prompt[0].duration"),
        (segments(*[("s", 1)] * 7), 10, "multi_prompt"),
        ([], 5, "multi_prompt"),
        ("not a list", 5, "multi_prompt"),
        (["not an object"], 5, "multi_prompt[0]"),
        (segments(("a", 10), ("x" * 2501, 0)), 10, "multi_prompt[1].prompt"),
        (segments(("<<<voice_1>>> hi", 5)), 5, "multi_prompt[0].prompt"),
    ],
)
def test_segment_rules(multi_prompt: Any, duration: int, field: str) -> None:
    payload = {"model": "kling-v3-text-to-video", "duration": duration, "multi_prompt": multi_prompt}
    assert field in error_fields(payload)


def test_segments_without_top_level_prompt_are_valid() -> None:
    payload = {"model": "kling-v3-text-to-video", "duration": 10, "multi_prompt": segments(("a", 6), ("b", 4))}
    assert validate_payload(payload) == []


def test_sum_message_says_how_to_fix() -> None:
    payload = {"model": "kling-v3-text-to-video", "duration": 10, "multi_prompt": segments(("a", 6), ("b", 3))}
    (problem,) = validate_payload(payload)
    assert "9 s" in problem.message and "10 s" in problem.message and "1 s" in problem.message


def test_warnings_do_not_block() -> None:
    payload = {
        "model": "kling-v3-text-to-video",
        "resolution": "4k",
        "duration": 5,
        "multi_prompt": segments(("x" * 600, 5)),
    }
    problems = validate_payload(payload)
    assert {p.level for p in problems} == {"warning"}
    assert {p.field for p in problems} == {"resolution", "multi_prompt[0].prompt"}


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/me.wav", True),
        ("http://example.com/a/b/voice.MP3?sig=1", True),
        ("https://example.com/me.m4a", True),
        ("https://example.com/me.aac", True),
        ("https://example.com/me.ogg", True),
        ("ftp://example.com/me.wav", False),
        ("file:///tmp/me.wav", False),
        ("javascript:alert(1)", False),
        ("https://example.com/me.mp4", False),
        ("https://example.com/me", False),
        ("", False),
        (None, False),
    ],
)
def test_voice_url(url: Any, ok: bool) -> None:
    assert (validate_voice_url(url) == []) is ok
    assert (validate_payload({"model": MODEL_CREATE_VOICE, "voice_url": url}) == []) is ok


def test_image_to_video_rules() -> None:
    good = {"model": MODEL_IMAGE_TO_VIDEO, "prompt": "p", "image_url": "https://e.com/a.png"}
    assert validate_payload(good) == []
    assert "image_url" in error_fields({"model": MODEL_IMAGE_TO_VIDEO, "prompt": "p"})
    assert "aspect_ratio" in error_fields({**good, "aspect_ratio": "16:9"})


def test_request_validate_raises_value_error_listing_everything() -> None:
    request = VideoRequest(prompt="", duration=7, segments=[])
    with pytest.raises(ValueError) as caught:
        request.validate()
    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert {p.field for p in error.problems} == {"prompt", "duration"}
    assert error.status is None and "nothing was sent" in error.hint


def test_request_validate_returns_warnings() -> None:
    warnings = VideoRequest(prompt="p", resolution="4k").validate()
    assert [w.field for w in warnings] == ["resolution"]


def test_segment_objects_pairs_and_dicts_are_equivalent() -> None:
    a = VideoRequest(duration=10, segments=[Segment("one", 6), Segment("two", 4)])
    b = VideoRequest(duration=10, segments=[("one", 6), {"prompt": "two", "duration": 4}])
    assert a == b and a.to_payload() == b.to_payload()


# -- wording (issue 11): every message is a sentence with a subject ------------------------------
PACKAGE = Path(__file__).resolve().parent.parent / "foxkling_widgets"


def _problem_messages() -> list[tuple[str, int, str]]:
    """Every ``Problem(field, message)`` in the package whose message is written out: (file, line, its start)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Problem"):
                continue
            if len(node.args) < 2:
                continue
            message = node.args[1]
            if isinstance(message, ast.JoinedStr) and message.values:
                first = message.values[0]
                start = first.value if isinstance(first, ast.Constant) else "{"
            elif isinstance(message, ast.Constant) and isinstance(message.value, str):
                start = message.value
            else:
                continue  # a message made elsewhere (a variable, str(error)): checked where it is made
            found.append((path.relative_to(PACKAGE).as_posix(), node.lineno, str(start)))
    return found


def test_every_problem_message_starts_a_sentence() -> None:
    messages = _problem_messages()
    assert len(messages) > 30  # the scan finds the package's messages
    # A message opens with a capital (its subject: "The prompt", "Shot 2's prompt", "4k") or with a
    # placeholder that is one ("{subject} is empty"); never "is empty" or "at most 8".
    lowercase = [m for m in messages if not (m[2][:1].isupper() or m[2][:1].isdigit() or m[2].startswith("{"))]
    assert lowercase == [], lowercase


def test_messages_without_a_subject_of_their_own_now_have_one() -> None:
    from foxkling_widgets._batch_requests import checked_batch

    with pytest.raises(InvalidRequestError) as empty:
        checked_batch([], None)
    assert empty.value.problems[0].message == "The batch is empty: give it at least one request."
    with pytest.raises(InvalidRequestError) as many:
        checked_batch([VideoRequest(prompt=f"fox {i}") for i in range(9)], None)
    assert many.value.problems[0].message == "The batch has 9 requests; a batch takes at most 8."
    with pytest.raises(InvalidRequestError) as unknown:
        checked_batch([{"prompt": "fox", "colour": "red"}], None)
    assert unknown.value.problems[0].message.startswith("The request at index 0 cannot be a VideoRequest: ")
    shots = error_messages(
        base(duration=10, multi_prompt=[{"prompt": "a", "duration": 6}, {"prompt": "b", "duration": 3}])
    )
    assert any(m.startswith("The shots' durations add up to 9 s but the clip is 10 s") for m in shots), shots


def error_messages(payload: dict[str, Any]) -> list[str]:
    return [p.message for p in validate_payload(payload) if p.level == "error"]
