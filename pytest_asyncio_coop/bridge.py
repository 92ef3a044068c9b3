"""The greenlet bridge between pytest's synchronous protocol and asyncio.

A cooperative test's Task starts a :class:`BridgeGreenlet` that runs pytest's
protocol. Whenever that code must await (an async fixture, the test coroutine,
a wait for a shared fixture), it calls :func:`await_only`, which switches back
to the Task; the Task awaits on the loop while other tests run, then switches
the result or the exception back in. SQLAlchemy's asyncio layer uses the same
pattern.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import greenlet

if TYPE_CHECKING:
    from .scheduler import TaskRunner

T = TypeVar("T")


class BridgeGreenlet(greenlet.greenlet):
    """Runs one test's synchronous protocol; its parent is the driving Task."""

    #: the runner of the task this greenlet belongs to
    runner: TaskRunner


def current_runner() -> TaskRunner | None:
    """The runner whose protocol code is executing now, if any."""
    current = greenlet.getcurrent()
    return current.runner if isinstance(current, BridgeGreenlet) else None


def await_only(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on the loop from synchronous code inside a test's protocol.

    Other tests run while it waits. The result is returned, or the exception
    raised, right here.
    """
    __tracebackhide__ = True
    current = greenlet.getcurrent()
    if not isinstance(current, BridgeGreenlet):
        if isinstance(awaitable, types.CoroutineType):
            awaitable.close()
        raise RuntimeError(
            "pytest-asyncio-coop: an awaitable was handed to the event loop outside "
            "a cooperative test; only tests marked asyncio_cooperative can await"
        )
    return current.parent.switch(awaitable)


@types.coroutine
def _stepped(awaitable: Awaitable[T], resume: Callable[[], None]):
    """Await ``awaitable``, calling ``resume`` before each of its steps.

    ``resume`` restores the per-test global state (hazard 4) whenever the
    test's code is about to run again.
    """
    __tracebackhide__ = True
    it = awaitable.__await__()
    value: Any = None
    exc: BaseException | None = None
    while True:
        resume()
        try:
            yielded = it.send(value) if exc is None else it.throw(exc)
        except StopIteration as stop:
            return stop.value
        try:
            value, exc = (yield yielded), None
        except GeneratorExit:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            raise
        except BaseException as e:  # delivered into the awaitable, as `await` does
            value, exc = None, e


async def run_in_greenlet(fn: Callable[[], T], runner: TaskRunner) -> T:
    """Run ``fn`` in a new greenlet, awaiting whatever it hands to :func:`await_only`.

    The greenlet shares this Task's contextvars context (hazard 9). Exceptions
    from the awaited object pass through ``runner.translate`` first, which
    turns a timeout's cancellation into the timeout failure.
    """
    parent = greenlet.getcurrent()
    child = BridgeGreenlet(fn, parent)
    child.runner = runner
    child.gr_context = parent.gr_context
    runner.resume()
    request = child.switch()
    while not child.dead:
        runner.suspend(request)
        try:
            value = await _stepped(request, runner.resume)
        except BaseException as exc:  # handed to the greenlet, like `await` would raise it
            error = runner.translate(exc)
            runner.resume()
            request = child.throw(type(error), error, error.__traceback__)
        else:
            error = runner.translate(None)
            runner.resume()
            if error is None:
                request = child.switch(value)
            else:
                request = child.throw(type(error), error, error.__traceback__)
    runner.suspend(None)
    return request
