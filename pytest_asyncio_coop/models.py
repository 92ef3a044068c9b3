"""The state of cooperative tasks, as attrs models.

Live state is a mutable ``define`` class compared by identity; settings are
``frozen``.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs


class TaskState(enum.Enum):
    """Where a task is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"


def _positive_finite(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _positive_int(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number of at least 1, got {value!r}")


@attrs.frozen
class Settings:
    """The run's settings, from the command line or the ini file."""

    #: how many tests may run at once (``--max-asyncio-tasks``)
    max_tasks: int = attrs.field(default=100, validator=_positive_int)
    #: seconds a test may run, counted from its start (``--asyncio-task-timeout``)
    task_timeout: float = attrs.field(default=600.0, validator=_positive_finite)


@attrs.define(eq=False)
class Task:
    """One cooperative test's run."""

    #: the pytest item; for power users, hooks should prefer the other fields
    item: Any = attrs.field(repr=False)
    #: the item's node id
    nodeid: str
    #: seconds the test may run once started
    timeout: float = attrs.field(validator=_positive_finite)
    #: where the task is in its life
    state: TaskState = TaskState.QUEUED
    #: loop time when queued
    queued_at: float | None = None
    #: loop time when admitted; None while queued
    started_at: float | None = None
    #: loop time when done; None until then
    finished_at: float | None = None
    #: loop time at which the test times out; None while queued
    deadline: float | None = None
    #: "passed", "failed" or "skipped" once known, else None
    outcome: str | None = None
    #: 1 for the first run, 2 for the first rerun, ...
    attempt: int = 1
