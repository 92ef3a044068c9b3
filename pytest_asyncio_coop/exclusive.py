"""Exclusive tests, built on the ``admit_task`` hook:
``@pytest.mark.asyncio_cooperative(exclusive=True)`` runs a test alone. When
it is next in line, nothing more is admitted; once the running tests are done
it runs by itself; then admission resumes.

Registered as an ordinary plugin (not ``trylast``): an extension's own
``admit_task`` that answers first decides instead.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Mapping

from .hookspecs import hookimpl
from .models import Admission, Settings, Task


def is_exclusive(task: Task) -> bool:
    return bool(task.options.get("exclusive", False))


@hookimpl
def admit_task(task: Task, running: Collection[Task], settings: Settings) -> Admission | None:
    if running and (is_exclusive(task) or any(is_exclusive(other) for other in running)):
        return Admission.WAIT
    return None


def _check(value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError("exclusive must be True or False")


@hookimpl
def marker_options() -> Mapping[str, Callable[[Any], object]]:
    return {"exclusive": _check}
