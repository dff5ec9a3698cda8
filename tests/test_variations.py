"""The pure variations layer: expanding controls into a batch, its problems, and gallery labels."""

from __future__ import annotations

from foxkling_widgets import Segment, VideoRequest
from foxkling_widgets._variations import MAX_BATCH, expand, labels, problems


def test_expand_each_mode() -> None:
    base = VideoRequest(prompt="a fox", duration=5)
    assert [(label, r.aspect_ratio) for label, r in expand(base, "aspect_ratio")] == [
        ("16:9", "16:9"),
        ("9:16", "9:16"),
        ("1:1", "1:1"),
    ]
    assert [r.duration for _label, r in expand(base, "duration")] == [5, 10]
    lines = VideoRequest(prompt="a fox\n\n  an owl  \n")
    assert [r.prompt for _label, r in expand(lines, "prompts")] == ["a fox", "an owl"]
    assert expand(base, "") == []


def test_problems_say_what_to_fix_and_name_prompt_lines() -> None:
    assert problems(VideoRequest(prompt="a fox"), "aspect_ratio") == []
    assert [p.field for p in problems(VideoRequest(prompt=""), "aspect_ratio")] == ["prompt"]  # said once, not 3x
    assert problems(VideoRequest(prompt="only one"), "prompts")[0].message.startswith("Put one prompt per line")
    many = VideoRequest(prompt="\n".join(f"p{i}" for i in range(MAX_BATCH + 1)))
    assert "Remove 1" in problems(many, "prompts")[0].message
    long_line = VideoRequest(prompt="ok\n" + "x" * 2600)
    (problem,) = problems(long_line, "prompts")
    assert problem.field == "prompt" and problem.message.startswith("xxxx")
    shots = VideoRequest(duration=10, segments=[Segment("a", 5), Segment("b", 5)])
    assert problems(shots, "duration")[0].field == "vary"
    assert problems(shots, "prompts")[0].field == "vary"
    assert problems(shots, "aspect_ratio") == []
    assert problems(VideoRequest(prompt="a"), "colour")[0].field == "vary"


def test_labels_name_what_differs() -> None:
    a = VideoRequest(prompt="a fox", aspect_ratio="16:9")
    b = VideoRequest(prompt="a fox", aspect_ratio="9:16", duration=10)
    assert labels([a, b]) == ["16:9 · 5 s", "9:16 · 10 s"]
    assert labels([a, a]) == ["#1", "#2"]
    assert labels([VideoRequest(prompt="x" * 50), VideoRequest(prompt="y")])[0].endswith("…")


def test_prompt_labels_skip_the_words_all_lines_share() -> None:
    base = VideoRequest(prompt="A paper boat sails down a rainy street\nA paper boat sails down a sunny street")
    assert [label for label, _r in expand(base, "prompts")] == ["…rainy street", "…sunny street"]
    assert labels([VideoRequest(prompt="a fox runs"), VideoRequest(prompt="a fox sleeps")]) == ["…runs", "…sleeps"]
