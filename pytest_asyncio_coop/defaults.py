"""The built-in behaviour, as ordinary hookimpls registered first and marked
``trylast``: any conftest or extension that implements a hook overrides it.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Collection, Mapping, Sequence

from .hookspecs import hookimpl
from .models import Admission, Settings, Task, TimeoutAction
from .plugin import dotted


@hookimpl(trylast=True)
def on_task_timeout(task: Task) -> TimeoutAction:
    """Record where the test was waiting, and cancel it."""
    task.timeout_stack = tuple(task.await_stack())
    return TimeoutAction.cancel()


@hookimpl(trylast=True)
def make_event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """A new loop from pytest-asyncio's ``pytest_asyncio_loop_factories`` hook
    (auto mode) or the ini option ``asyncio_loop_factory``, else of asyncio's
    default kind."""
    if settings.pytest_asyncio_loop_factory is not None:
        return settings.pytest_asyncio_loop_factory()
    if settings.loop_factory is None:
        return asyncio.new_event_loop()
    return dotted(settings.loop_factory)()


@hookimpl(trylast=True)
def order_tasks(tasks: Sequence[Task], settings: Settings) -> Sequence[Task]:
    """Longest first, by last run's durations, which shortens the run under a
    cap; tests of unknown duration first of all. ``--asyncio-order=collection``
    keeps collection order."""
    if settings.order == "collection" or all(task.expected_duration is None for task in tasks):
        return tasks
    return sorted(tasks, key=lambda task: -(task.expected_duration if task.expected_duration is not None else float("inf")))


@hookimpl(trylast=True)
def admit_task(task: Task, running: Collection[Task], settings: Settings) -> Admission:
    """Admit whatever is next while under the cap."""
    return Admission.ADMIT


def _check_timeout(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError("the timeout must be a positive number of seconds")


@hookimpl(trylast=True)
def marker_options() -> Mapping[str, Callable[[Any], object]]:
    """``timeout``: this test's own ``--asyncio-task-timeout``."""
    return {"timeout": _check_timeout}
