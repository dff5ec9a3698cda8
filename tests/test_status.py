"""The status enum: its wire strings, the provider's words, and the named groups."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from foxkling_widgets import TaskStatus
from foxkling_widgets._status import (
    ACTIVE,
    FAILURES,
    FINISHED,
    PROVIDER,
    PROVIDER_FAILURES,
    RUNNING,
    TERMINAL,
    ordered,
)
from foxkling_widgets._types import Task

# The strings cards, the journal and the front end have always used: a member is its string.
WIRE = {
    "queued",
    "submitting",
    "pending",
    "processing",
    "unknown",
    "downloading",
    "completed",
    "failed",
    "cancelled",
    "stopped",
    "uncertain",
    "expired",
}


def test_members_are_their_wire_strings() -> None:
    assert {status.value for status in TaskStatus} == WIRE
    for status in TaskStatus:
        assert status == status.value and str(status) == status.value and f"{status}" == status.value
        assert json.dumps(status) == json.dumps(status.value)
        assert TaskStatus(status.value) is status


@given(st.text(max_size=40) | st.sampled_from(sorted(WIRE)) | st.none() | st.integers())
def test_parse_only_gives_the_providers_states(value: object) -> None:
    assert TaskStatus.parse(value) in PROVIDER


def test_the_providers_look_alike_words_are_its_own_meaning() -> None:
    # The provider's "queued" has the task (pending); its "expired" is a failure, not our expiry.
    assert TaskStatus.parse("queued") is TaskStatus.PENDING
    assert TaskStatus.parse("expired") is TaskStatus.FAILED
    assert TaskStatus.parse("Canceled") is TaskStatus.CANCELLED
    assert TaskStatus.parse("weird-new-word") is TaskStatus.UNKNOWN


def test_groups_partition_what_they_should() -> None:
    everything = set(TaskStatus)
    assert ACTIVE.isdisjoint(FINISHED)
    # Only a stopped task (resumable) and an uncertain submit (maybe billed) are neither.
    assert everything - ACTIVE - FINISHED == {TaskStatus.STOPPED, TaskStatus.UNCERTAIN}
    assert RUNNING <= ACTIVE and RUNNING <= PROVIDER
    assert TERMINAL == PROVIDER - RUNNING
    assert PROVIDER_FAILURES <= TERMINAL <= FINISHED
    assert PROVIDER_FAILURES <= FAILURES and TaskStatus.COMPLETED not in FAILURES
    assert FAILURES.isdisjoint(ACTIVE)
    assert {status for status in TaskStatus if status.is_failure} == PROVIDER_FAILURES


def test_ordered_follows_the_enum_not_the_set() -> None:
    assert ordered(TERMINAL) == ["completed", "failed", "cancelled"]
    assert ordered(reversed(list(TaskStatus))) == [s.value for s in TaskStatus]


def test_a_tasks_status_is_one_of_the_providers() -> None:
    for word in ("succeeded", "queued", "error", "nonsense"):
        task = Task.from_json({"id": "t", "status": word})
        assert task.status in PROVIDER and task.to_dict()["status"] == task.status.value
