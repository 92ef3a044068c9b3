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


def _check(value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError("exclusive must be True or False")


class Exclusive:
    """One per session: it remembers the exclusive test it let start, so that
    each decision takes constant time however many tests run."""

    def __init__(self) -> None:
        # the exclusive task admitted last; None once it no longer runs
        self._alone: Task | None = None

    @hookimpl
    def admit_task(self, task: Task, running: Collection[Task], settings: Settings) -> Admission | None:
        if self._alone is not None and self._alone not in running:
            self._alone = None
        exclusive = is_exclusive(task)
        if running and (self._alone is not None or exclusive):
            return Admission.WAIT
        if exclusive:
            self._alone = task  # nothing runs: it starts, and runs alone
        return None

    @hookimpl(tryfirst=True)
    def on_task_start(self, task: Task) -> None:
        if is_exclusive(task):
            self._alone = task  # also when another plugin's admit_task let it start

    @hookimpl
    def marker_options(self) -> Mapping[str, Callable[[Any], object]]:
        return {"exclusive": _check}
