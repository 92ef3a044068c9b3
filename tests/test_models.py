"""The attrs models handed to hooks: their validators and helpers."""

import pytest

from pytest_asyncio_coop import Settings, Task, TaskState, TimeoutAction


@pytest.mark.parametrize("value", [0, -1, 2.5, "3", True])
def test_settings_reject_a_bad_cap(value):
    with pytest.raises(ValueError, match=r"max_tasks must be a whole number of at least 1, got"):
        Settings(max_tasks=value)


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan"), "10"])
def test_settings_reject_a_bad_timeout(value):
    with pytest.raises(ValueError, match=r"task_timeout must be a positive number of seconds, got"):
        Settings(task_timeout=value)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().max_tasks = 3  # type: ignore[misc]


def test_timeout_action_constructors():
    assert TimeoutAction.cancel().extend_by is None
    assert TimeoutAction.extend(2).extend_by == 2
    with pytest.raises(ValueError, match="extend_by must be a positive number of seconds"):
        TimeoutAction.extend(0)


def test_task_defaults_and_await_stack_outside_a_run():
    task = Task(item=None, nodeid="t.py::test", timeout=1)
    assert task.state is TaskState.QUEUED
    assert task.attempt == 1 and task.outcome is None and task.options == {}
    assert task.await_stack() == []
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        Task(item=None, nodeid="t.py::test", timeout=0)
