"""The code a cooperative test hands to the loop runs as the test.

A test's own code runs in its greenlet, with its process-global state in
place (isolation.py). The tasks it spawns (``asyncio.gather``,
``create_task``) and the callbacks it schedules (``call_soon``,
``call_later``, a future's done-callback) run from the loop instead. Each of
their runs is a callback the loop calls; here each one the test scheduled
is wrapped so that the test's state is in place while it runs, as it would
be with the test running alone: ``pytest.warns`` around a ``gather`` sees
the warnings of the gathered coroutines, and a level ``caplog`` set holds in
the tasks the test spawns.

Likewise, what the loop logs of an exception in such a callback or task is
the test's record, and a job the test hands to ``run_in_executor`` runs in a
copy of its context (as ``asyncio.to_thread`` does), so that what it prints
and logs is the test's.

Whose a callback is: the test in ``task_owner`` of the context it runs in
(none inside a shared fixture). Not wrapped: the steps of the test's own
Task, whose greenlet switches its state in and out itself, asyncio's own
callbacks, and what the loop refuses anyway; a test that is done by the time
its callback runs lends it nothing.

The loop's scheduling methods are replaced on the loop object itself, and
call the class's methods (patches of the class included); a loop that does
not allow that keeps them, and then such code sees the state outside any
test. I/O callbacks (``add_reader``, a protocol's ``data_received``) are the
loop's own and not wrapped.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
from types import CodeType
from typing import TYPE_CHECKING, Any, Callable

from . import isolation
from .bridge import current_task_runner, task_owner

if TYPE_CHECKING:
    from .runner import TaskRunner

# call_later is wrapped as well as call_at: uvloop's does not go through it
_SCHEDULING = ("call_soon", "call_soon_threadsafe", "call_later", "call_at")
# asyncio's own callbacks (the timer that ends a sleep, gather's and
# TaskGroup's done-callbacks, a queue's wake-ups) run none of the test's
# code, and need no state switched; only a Task's steps do (Python tasks')
_ASYNCIO = os.path.dirname(asyncio.__file__) + os.sep


class _AsTest:
    """A callback that runs with its test's process-global state in place.
    asyncio's messages (an exception in a callback, a slow one) name and
    locate the callback itself, through ``__wrapped__`` and the attributes
    passed on to it."""

    __slots__ = ("runner", "callback")

    def __init__(self, runner: TaskRunner, callback: Callable[..., Any]) -> None:
        self.runner = runner
        self.callback = callback

    def __call__(self, *args: Any) -> Any:
        if self.runner.aio_task is None:  # the test is done
            return self.callback(*args)
        return isolation.run_as(self.runner.globals, self.callback, args)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self.callback

    def __getattr__(self, name: str) -> Any:
        if name in _AsTest.__slots__:
            raise AttributeError(name)  # not set yet
        return getattr(self.callback, name)

    def __repr__(self) -> str:
        return repr(self.callback)


def _as_test(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], context: Any) -> Any:
    runner = task_owner.get() if context is None else context.get(task_owner)
    if runner is None or runner.aio_task is None or type(callback) is _AsTest:
        return callback
    owner = getattr(callback, "__self__", None)
    if owner is runner.aio_task:
        return callback
    code = getattr(callback, "__code__", None)
    if type(code) is CodeType and code.co_filename.startswith(_ASYNCIO) and not isinstance(owner, asyncio.Future):
        return callback
    if type(callback) is functools.partial:  # still a partial, as asyncio's messages show it
        func = _as_test(loop, callback.func, context)
        return callback if func is callback.func else functools.partial(func, *callback.args, **callback.keywords)
    if loop.get_debug() and (
        not callable(callback) or asyncio.iscoroutine(callback) or inspect.iscoroutinefunction(callback)
    ):
        return callback  # as it is, for the loop to refuse
    return _AsTest(runner, callback)


def _whose_error(context: dict[str, Any]) -> TaskRunner | None:
    """The running test whose callback, or task, an exception handler's
    context is about, if any."""
    callback = getattr(context.get("handle"), "_callback", None)
    if type(callback) is functools.partial:
        callback = callback.func
    if type(callback) is _AsTest:
        runner: TaskRunner | None = callback.runner
    else:
        get_context = getattr(context.get("future") or context.get("task"), "get_context", None)  # 3.12+
        runner = get_context().get(task_owner) if get_context is not None else None
    return runner if runner is not None and runner.aio_task is not None else None


def install(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Wrap what the tests schedule on ``loop``, and have what the loop logs
    of an exception in it be the test's; return the undo."""
    installed: list[str] = []

    def undo() -> None:
        for name in installed:
            vars(loop).pop(name, None)  # a test may have deleted it already

    for name in (*_SCHEDULING, "call_exception_handler", "run_in_executor"):
        try:
            setattr(loop, name, _scheduling(loop, name))
        except AttributeError:  # no instance attributes
            break
        installed.append(name)
    return undo


def _scheduling(loop: asyncio.AbstractEventLoop, name: str) -> Callable[..., Any]:
    cls = type(loop)
    if name in ("call_later", "call_at"):
        def call_at(when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
            return getattr(cls, name)(loop, when, _as_test(loop, callback, context), *args, context=context)
        return call_at
    if name == "call_exception_handler":
        # It runs after the callback, outside the test's context: its output
        # and log records are routed to the test for the time it runs.
        def call_exception_handler(context: dict[str, Any]) -> None:
            runner = _whose_error(context)
            token = current_task_runner.set(runner) if runner is not None else None
            try:
                getattr(cls, name)(loop, context)
            finally:
                if token is not None:
                    current_task_runner.reset(token)
        return call_exception_handler

    if name == "run_in_executor":
        # As asyncio.to_thread does: the job runs in a copy of the test's
        # context, so that what it prints and logs is the test's.
        def run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            if current_task_runner.get() is not None and not (
                loop.get_debug() and (asyncio.iscoroutine(func) or inspect.iscoroutinefunction(func))
            ):
                func = functools.partial(contextvars.copy_context().run, func)
            return getattr(cls, name)(loop, executor, func, *args)
        return run_in_executor

    def call_soon(callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        return getattr(cls, name)(loop, _as_test(loop, callback, context), *args, context=context)
    return call_soon
