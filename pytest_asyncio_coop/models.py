"""The state of cooperative tasks, as attrs models.

Live state is a mutable ``define`` class compared by identity; settings are
``frozen``.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import enum
import math
import traceback
from typing import Any, Callable, Mapping

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
    #: dotted path of the event loop factory (ini ``asyncio_loop_factory``);
    #: None for asyncio's default loop
    loop_factory: str | None = None
    #: in auto mode, the one loop factory that pytest-asyncio's
    #: ``pytest_asyncio_loop_factories`` hook gives the cooperative tests;
    #: None when no conftest implements it (set once collection is done)
    pytest_asyncio_loop_factory: Callable[[], Any] | None = None
    #: seconds a test's code may hold the loop before it counts as a block
    #: (``--asyncio-block-threshold``)
    block_threshold: float = attrs.field(default=0.25, validator=_positive_finite)
    #: "report" a block, or make it an "error" of the test (``--asyncio-blocking``)
    blocking: str = attrs.field(default="report", validator=attrs.validators.in_(("report", "error")))
    #: tasks a test leaves pending: "warn", "error" or "ignore" (``--asyncio-leaks``)
    leaks: str = attrs.field(default="warn", validator=attrs.validators.in_(("warn", "error", "ignore")))
    #: admission order: "duration" (longest known first) or "collection" (``--asyncio-order``)
    order: str = attrs.field(default="duration", validator=attrs.validators.in_(("duration", "collection")))
    #: unmarked sync tests run "first", or "overlap" between cooperative steps (``--asyncio-sync-tests``)
    sync_tests: str = attrs.field(default="first", validator=attrs.validators.in_(("first", "overlap")))


@attrs.define(eq=False, on_setattr=attrs.setters.NO_OP)
class Task:
    """One cooperative test's run.

    Validators run when a task is made, not when a field is set later: the
    bookkeeping fields are set on every test's hot path.
    """

    #: the pytest item; for power users, hooks should prefer the other fields
    item: Any = attrs.field(repr=False)
    #: the item's node id
    nodeid: str
    #: seconds the test may run once started
    timeout: float = attrs.field(validator=_positive_finite)
    #: where the task is in its life
    state: TaskState = TaskState.QUEUED
    #: time.monotonic() when queued
    queued_at: float | None = None
    #: time.monotonic() when admitted; None while queued
    started_at: float | None = None
    #: time.monotonic() when done; None until then
    finished_at: float | None = None
    #: time.monotonic() at which the test times out; None while queued
    deadline: float | None = None
    #: "passed", "failed" or "skipped" once known, else None
    outcome: str | None = None
    #: 1 for the first run, 2 for the first rerun, ...
    attempt: int = 1
    #: the keyword arguments of the item's ``asyncio_cooperative`` marker
    options: Mapping[str, Any] = attrs.field(factory=dict)
    #: seconds the test took last time (pytest's cache), if known
    expected_duration: float | None = None
    #: where the test was waiting when its deadline passed (set by the default
    #: ``on_task_timeout``); empty until then
    timeout_stack: tuple[traceback.FrameSummary, ...] = ()
    # returns the current await stack; set by the runner while the task runs
    _stack_source: Callable[[], list[traceback.FrameSummary]] | None = attrs.field(
        default=None, init=False, repr=False
    )

    def await_stack(self) -> list[traceback.FrameSummary]:
        """The frames of the test's coroutine chain, outermost first, down to
        the innermost ``await``; empty when the task is not waiting."""
        return self._stack_source() if self._stack_source is not None else []


class Admission(enum.Enum):
    """An ``admit_task`` answer."""

    #: start the task now
    ADMIT = "admit"
    #: leave it queued, consider the next queued task
    SKIP = "skip"
    #: start nothing more until a running task finishes
    WAIT = "wait"


@attrs.frozen
class TimeoutAction:
    """An ``on_task_timeout`` answer: cancel the test, or extend its deadline."""

    #: seconds to extend the deadline by, counted from now; None to cancel
    extend_by: float | None = attrs.field(default=None)

    @extend_by.validator
    def _check(self, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is not None:
            _positive_finite(self, attribute, value)

    @classmethod
    def cancel(cls) -> TimeoutAction:
        """Fail the test with ``TaskTimeout`` now; its teardown still runs."""
        return cls()

    @classmethod
    def extend(cls, seconds: float) -> TimeoutAction:
        """Give the test ``seconds`` more, counted from now."""
        return cls(extend_by=seconds)


@attrs.frozen
class LockInfo:
    """A snapshot of a :class:`~pytest_asyncio_coop.Lock`, for the lock hooks."""

    #: the lock's name (``Lock(name=...)``), or a generated one
    name: str
    #: whether it is held
    locked: bool
    #: how many tasks are waiting to acquire it
    waiting: int
    #: node id of the test holding it, if a cooperative test does
    holder: str | None
