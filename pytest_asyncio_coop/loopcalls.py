"""The loop callbacks a cooperative test schedules run as the test.

A test's own code runs in its greenlet, with its process-global state in
place (isolation.py). The tasks it spawns (``asyncio.gather``,
``create_task``) and the callbacks it schedules (``call_soon``,
``call_later``, a future's done-callback) run from the loop instead. Each of
their runs is a callback the loop calls; here each one the test scheduled
is wrapped so that the test's state is in place while it runs, as it would
be with the test running alone: ``pytest.warns`` around a ``gather`` sees
the warnings of the gathered coroutines, and a level ``caplog`` set holds in
the tasks the test spawns.

Whose a callback is: the test in ``task_owner`` of the context it runs in
(none inside a shared fixture). Not wrapped: the steps of the test's own
Task, whose greenlet switches its state in and out itself, and callbacks of
a test that is done.

The loop's scheduling methods are replaced on the loop object itself; a loop
that does not allow that (uvloop's) keeps them, and then such code sees the
state outside any test.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable

from . import isolation
from .bridge import task_owner

if TYPE_CHECKING:
    from .runner import TaskRunner

# call_later calls call_at, through the loop object: it is wrapped there
_SCHEDULING = ("call_soon", "call_soon_threadsafe", "call_at")
# asyncio's own callbacks that run none of the test's code need no state
# switched: the timer of each asyncio.sleep(), and of a wait's timeout
_SLEEP_DONE = getattr(asyncio.futures, "_set_result_unless_cancelled", None)
_WAIT_DONE = getattr(asyncio.tasks, "_release_waiter", None)


class _AsTest:
    """A callback that runs with its test's process-global state in place."""

    __slots__ = ("runner", "callback")

    def __init__(self, runner: TaskRunner, callback: Callable[..., Any]) -> None:
        self.runner = runner
        self.callback = callback

    def __call__(self, *args: Any) -> Any:
        state = self.runner.globals
        if self.runner.aio_task is None or isolation.entered() is not None:
            # the test is done; or the loop runs inside a test's code
            # (a nested run): that test's state stays
            return self.callback(*args)
        state.enter()
        try:
            return self.callback(*args)
        finally:
            state.leave()

    def __repr__(self) -> str:  # asyncio's messages name the callback
        return repr(self.callback)


def _as_test(callback: Callable[..., Any], context: Any) -> Callable[..., Any]:
    if callback is _SLEEP_DONE or callback is _WAIT_DONE:
        return callback
    runner = task_owner.get() if context is None else context.get(task_owner)
    if runner is None or runner.aio_task is None or getattr(callback, "__self__", None) is runner.aio_task:
        return callback
    return _AsTest(runner, callback)


def install(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Wrap what the tests schedule on ``loop``; return the undo."""
    installed: list[str] = []

    def undo() -> None:
        for name in installed:
            delattr(loop, name)

    for name in _SCHEDULING:
        try:
            setattr(loop, name, _scheduling(getattr(loop, name), name == "call_at"))
        except AttributeError:  # no instance attributes (uvloop)
            break
        installed.append(name)
    return undo


def _scheduling(original: Callable[..., Any], timed: bool) -> Callable[..., Any]:
    if timed:
        def call_at(when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
            return original(when, _as_test(callback, context), *args, context=context)
        return call_at

    def call_soon(callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        return original(_as_test(callback, context), *args, context=context)
    return call_soon
