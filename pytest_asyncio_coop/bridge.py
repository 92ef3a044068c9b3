"""The greenlet bridge between pytest's synchronous protocol and asyncio.

A cooperative test's Task starts a :class:`BridgeGreenlet` that runs pytest's
protocol. Code in it that must await (an async fixture, the test coroutine, a
wait for a shared fixture) calls :func:`await_only`, which steps the awaitable
right there, in the greenlet. Whenever the awaitable suspends on a future, the
greenlet switches to its Task, which yields that future to the loop exactly
as a plain ``await`` would; other tests run meanwhile. When the Task resumes,
it switches the result, or the exception, back in.

Because every coroutine runs inside the greenlet, synchronous code that a
coroutine calls (``request.getfixturevalue()`` in a test body, say) can await
through the bridge too.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import greenlet

if TYPE_CHECKING:
    from .scheduler import TaskRunner

T = TypeVar("T")


class BridgeGreenlet(greenlet.greenlet):
    """Runs one test's protocol and coroutines; its parent is the driving Task."""

    #: the runner of the task this greenlet works for now
    runner: TaskRunner
    #: the job handed to it, until it takes it
    job: Callable[[], Any] | None = None
    #: what its job returned, or raised, for the parent to take
    outcome: tuple[Any, BaseException | None] | None = None


#: the runner of the test whose code is running: in its greenlet, in its Task,
#: and in tasks it spawned (they copy its context)
current_task_runner: contextvars.ContextVar[TaskRunner | None] = contextvars.ContextVar(
    "pytest_asyncio_coop_runner", default=None
)


#: the runner of the test that owns the tasks created now; None inside a
#: shared fixture, whose tasks may outlive the test that set it up
task_owner: contextvars.ContextVar[TaskRunner | None] = contextvars.ContextVar(
    "pytest_asyncio_coop_task_owner", default=None
)


def current_runner() -> TaskRunner | None:
    """The runner whose greenlet is executing now, if any."""
    current = greenlet.getcurrent()
    return current.runner if isinstance(current, BridgeGreenlet) else None


def await_only(awaitable: Awaitable[T], *, owner: object = None, label: str | None = None) -> T:
    """Await ``awaitable`` from synchronous code inside a cooperative test.

    Other tests run while it waits. The result is returned, or the exception
    raised, right here. ``owner`` is what holds the frames to show when the
    test times out meanwhile (an async generator, for its ``__anext__()``);
    ``label`` says what it is ("fixture 'db'").
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
    runner = current.runner
    it = awaitable.__await__()
    runner.awaiting.append((awaitable if owner is None else owner, label))
    aside = runner.loop_aside
    if aside is not None:  # the protocol set it aside: it is back while this steps
        before = asyncio.events._get_running_loop()  # set already: awaited inside an await
        asyncio.events._set_running_loop(aside)
    try:
        value: Any = None
        exc: BaseException | None = None
        while True:
            try:
                yielded = it.send(value) if exc is None else it.throw(exc)
            except StopIteration as stop:
                result = stop.value
                break
            except BaseException as error:
                timeout = runner.timeout_error()
                if timeout is None:
                    raise
                raise timeout.with_traceback(error.__traceback__) from None
            timeout = runner.timeout_error()
            if timeout is not None:
                # It swallowed the timeout's cancellation and waits again: the
                # timeout is raised right there, at that await.
                value, exc = None, timeout
                continue
            try:
                value, exc = current.parent.switch(yielded), None
            except GeneratorExit:
                it.close()
                raise
            except BaseException as error:  # delivered into the awaitable, as `await` does
                value, exc = None, error
            runner.resume()  # other tests ran meanwhile
    finally:
        runner.awaiting.pop()
        if aside is not None:
            asyncio.events._set_running_loop(before)
    timeout = runner.timeout_error()
    if timeout is not None:  # it swallowed the cancellation and finished
        raise timeout
    return result


# the thread's current loop before a sync test's body first made the
# session's loop current; put back at the end of the session
_current_before: list[asyncio.AbstractEventLoop | None] = []


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """The thread's current loop, read without making one (as
    ``get_event_loop()`` would): the policy keeps it (private; 3.10 to 3.14)."""
    get_policy = getattr(asyncio.events, "_get_event_loop_policy", None) or asyncio.get_event_loop_policy
    return getattr(getattr(get_policy(), "_local", None), "_loop", None)


def put_back_current_loop() -> None:
    """The thread's current loop as it was before the session's loop was made it."""
    if _current_before:
        asyncio.set_event_loop(_current_before.pop())


class LoopAside:
    """A test's protocol runs as under pytest-asyncio: with no running loop,
    so that ``asyncio.run()`` works in a sync fixture or a sync test's body
    (and holds the loop meanwhile, as any sync code does), and
    the loop as the thread's current one, which ``asyncio.get_event_loop()``
    returns (the session puts back the one from before at its end).
    Awaiting through the bridge (the test's body, an async fixture) puts the
    loop back while that steps. (A class: a generator-based context manager
    costs more.)"""

    __slots__ = ("_runner",)

    def __init__(self, runner: TaskRunner) -> None:
        self._runner = runner

    def __enter__(self) -> None:
        loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        if loop is not None:
            if not _current_before:
                _current_before.append(_current_loop())
            if _current_loop() is not loop:  # an asyncio.run() in an earlier test unset it
                asyncio.set_event_loop(loop)
        self._runner.loop_aside = loop

    def __exit__(self, *exc_info: object) -> None:
        asyncio.events._set_running_loop(self._runner.loop_aside)
        self._runner.loop_aside = None


# switched to the parent by a pooled greenlet whose job is done
_DONE = object()
# greenlets whose job is done, for the next ones: a new greenlet costs a
# fresh Python frame stack (an mmap and its page faults) and its teardown
_idle: list[BridgeGreenlet] = []
_MAX_IDLE = 1000


def _serve() -> None:
    """The run of a pooled greenlet: the job handed to it, its outcome left
    on the greenlet for the parent, then the next job. (Jobs come as an
    attribute: what a greenlet's first switch passes stays referenced for
    its whole life.)

    No frame of it refers to the greenlet while it is suspended between
    jobs: the garbage collector never collects a suspended greenlet, so a
    reference to itself would keep it, and its stacks, for good. Unreferenced,
    it is killed (``GreenletExit``) and freed at once.
    """
    while True:
        _do_job()
        greenlet.getcurrent().parent.switch(_DONE)


def _do_job() -> None:
    """Run the job handed to this greenlet; leave its outcome on it."""
    me = greenlet.getcurrent()
    job, me.job = me.job, None
    assert job is not None
    del me  # not referred to while the job may be suspended
    try:
        outcome: tuple[Any, BaseException | None] = (job(), None)
    except greenlet.GreenletExit:
        raise  # killed (unreferenced while suspended): it ends here
    except BaseException as error:
        outcome = (None, error)
    greenlet.getcurrent().outcome = outcome


def drop_idle_greenlets() -> None:
    """Let the pooled greenlets go (the cooperative phase is over)."""
    _idle.clear()


@types.coroutine
def run_in_greenlet(fn: Callable[[], T], runner: TaskRunner) -> Any:
    """Run ``fn`` in a greenlet, yielding to the loop whatever the
    awaitables stepped in it suspend on.

    The greenlet shares this Task's contextvars context (hazard 9).
    """
    __tracebackhide__ = True
    parent = greenlet.getcurrent()
    child = _idle.pop() if _idle else BridgeGreenlet(_serve)
    child.parent = parent
    child.runner = runner
    child.gr_context = parent.gr_context
    child.job = fn
    runner.resume()
    message = child.switch()
    while message is not _DONE:
        runner.waits()
        try:
            value = yield message
        except BaseException as exc:  # cancellation: into the greenlet, like `await` would raise it
            message = child.throw(type(exc), exc, exc.__traceback__)
        else:
            message = child.switch(value)
    runner.suspend()
    assert child.outcome is not None
    (value, error), child.outcome = child.outcome, None
    child.runner = None  # type: ignore[assignment]
    child.gr_context = None
    if len(_idle) < _MAX_IDLE:
        _idle.append(child)
    if error is not None:
        try:
            raise error
        finally:
            error = None  # no cycle through this frame
    return value
