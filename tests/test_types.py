"""Wire mapping of requests and parsing of both documented task shapes."""

from __future__ import annotations

from typing import Any

import pytest

from foxkling_widgets import Segment, Task, TaskStatus, VideoRequest
from foxkling_widgets._types import PROMPT_WITH_SEGMENTS


def _no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(_no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nulls(v) for v in value)
    return True


def test_defaults_are_omitted() -> None:
    assert VideoRequest(prompt="fox").to_payload() == {"model": "kling-v3-text-to-video", "prompt": "fox"}


def test_every_field_maps_to_the_wire() -> None:
    request = VideoRequest(
        prompt="...",
        resolution="1080p",
        aspect_ratio="9:16",
        duration=10,
        generate_audio=True,
        negative_prompt="blurry",
        voice_ids=["v1"],
        segments=[Segment("shot one", 6), Segment("shot two", 4)],
    )
    body = request.to_payload()
    assert body == {
        "model": "kling-v3-text-to-video",
        "prompt": "...",
        "resolution": "1080p",
        "aspect_ratio": "9:16",
        "duration": 10,
        "generate_audio": True,
        "negative_prompt": "blurry",
        "voice_ids": ["v1"],
        "multi_prompt": [{"prompt": "shot one", "duration": 6}, {"prompt": "shot two", "duration": 4}],
    }
    assert _no_nulls(body)
    assert VideoRequest.from_payload(body) == request


def test_segments_go_without_top_level_prompt_unless_given() -> None:
    assert PROMPT_WITH_SEGMENTS is False
    body = VideoRequest(duration=5, segments=[("a", 5)]).to_payload()
    assert "prompt" not in body and body["duration"] == 5


def test_shape_a_completed() -> None:
    task = Task.from_json(
        {
            "id": "task-unified-1700000000-abcd1234",
            "status": "completed",
            "progress": 100,
            "results": [{"url": "https://cdn.example/v.mp4"}],
            "usage": {"credits_reserved": 12.5, "user_group": "default"},
        }
    )
    assert task.done and task.terminal and task.video_url == "https://cdn.example/v.mp4"
    assert task.credits_reserved == 12.5


def test_shape_b_completed_and_cancelled() -> None:
    task = Task.from_json(
        {
            "id": "t",
            "status": "completed",
            "progress": 100,
            "output": {"url": None, "urls": ["https://cdn.example/b.mp4"], "duration": 5, "width": 1, "height": 1},
            "task_info": {"can_cancel": True, "estimated_time": 90},
        }
    )
    assert task.done and task.video_url == "https://cdn.example/b.mp4" and task.estimated_time == 90
    cancelled = Task.from_json({"id": "t", "status": "cancelled"})
    assert cancelled.failed and cancelled.terminal and cancelled.error is not None


def test_completed_without_results_is_not_terminal() -> None:
    task = Task.from_json({"id": "t", "status": "completed", "progress": 50, "results": None})
    assert task.status is TaskStatus.COMPLETED and not task.done and not task.terminal


@pytest.mark.parametrize("status", ["queued_upstream", "RUNNING", "", None])
def test_unknown_status_keeps_running(status: Any) -> None:
    task = Task.from_json({"id": "t", "status": status})
    assert not task.terminal


def test_failed_task_carries_code() -> None:
    task = Task.from_json(
        {
            "id": "t",
            "status": "failed",
            "error": {"code": "content_policy_violation", "message": "no", "type": "task_error"},
        }
    )
    assert task.failed and task.error is not None and task.error.code == "content_policy_violation"
    assert Task.from_json({"id": "t", "status": "failed", "error": "boom"}).error.message == "boom"  # type: ignore[union-attr]


def test_create_voice_result() -> None:
    task = Task.from_json({"id": "t", "status": "completed", "results": [{"voice_id": "voice-1"}]})
    assert task.done and task.voice_id == "voice-1" and task.video_url is None


def test_redaction_hides_keys_but_keeps_task_ids() -> None:
    from foxkling_widgets._exceptions import TaskFailedError, redact

    text = "Task task-unified-1700000000-abcd1234 failed; Bearer sk-live-0123456789 and sk-abcdef123456"
    cleaned = redact(text)
    assert "task-unified-1700000000-abcd1234" in cleaned
    assert "0123456789" not in cleaned and "abcdef123456" not in cleaned
    assert "task-unified-1700000000-abcd1234" in str(TaskFailedError("Task task-unified-1700000000-abcd1234 failed"))
