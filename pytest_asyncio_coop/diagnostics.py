"""Diagnostics of concurrent tests: who blocked the loop, and which tasks a
test left pending.

* Every stretch of a test's own code between two waits (a step) is timed. A
  step longer than ``asyncio_block_threshold`` is a block: it is recorded,
  passed to the ``on_loop_blocked`` hook, listed in the terminal summary, and
  with ``--asyncio-blocking=error`` it is an error of the test. A watchdog
  thread samples where a long step is; a step that outlasts the test's
  timeout by a grace period (a sync infinite loop) ends the run.
* Tasks a test creates are tracked by a task factory until they are done;
  those still pending after its teardown are reported (``--asyncio-leaks``)
  and cancelled.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable

import pytest

from .bridge import await_only, task_owner
from .deadlines import perf_counter

if TYPE_CHECKING:
    from .runner import TaskRunner

_HERE = os.path.dirname(os.path.abspath(__file__))
# frames from these are not where a test blocked or made a task
_NOT_USER_CODE = (
    _HERE, os.path.dirname(asyncio.__file__), os.path.dirname(threading.__file__),
    os.path.dirname(pytest.__file__) + os.sep, "<frozen ",
)


class LoopBlocked(Exception):
    """A cooperative test held the event loop longer than the threshold."""


class TaskLeak(Exception):
    """A cooperative test left tasks pending (``--asyncio-leaks=error``)."""


class TaskLeakWarning(UserWarning):
    """A cooperative test left tasks pending; they were cancelled."""


for _cls in (LoopBlocked, TaskLeak, TaskLeakWarning):
    _cls.__module__ = "pytest_asyncio_coop"


def user_frame(frame: Any) -> traceback.FrameSummary | None:
    """The innermost frame of ``frame``'s stack that is the test's own code."""
    while frame is not None:
        if not frame.f_code.co_filename.startswith(_NOT_USER_CODE) and "/_pytest/" not in frame.f_code.co_filename \
                and "/pluggy/" not in frame.f_code.co_filename:
            return traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


def where(location: traceback.FrameSummary | None) -> str:
    return f"{location.filename}:{location.lineno} in {location.name}" if location else "an unknown place"


class _KeepsItsName(asyncio.Task):  # type: ignore[type-arg]
    """A Task that ignores ``set_name(None)``: Python 3.13.0 to 3.13.2 call
    it on every task a loop's task factory makes without a name (CPython
    gh-130033), and would name them all 'None'."""

    def set_name(self, value: object) -> None:
        if value is not None:
            super().set_name(value)


# as asyncio's own in reprs and messages ("Task exception was never retrieved")
_KeepsItsName.__name__ = _KeepsItsName.__qualname__ = "Task"


def _names_tasks_none() -> bool:
    """Whether ``create_task`` renames what a task factory made to 'None'."""
    names: list[object] = []

    class Made:
        def set_name(self, name: object) -> None:
            names.append(name)

    class Loop:
        def _check_closed(self) -> None:
            pass

        _task_factory = staticmethod(lambda loop, coro, **kwargs: Made())

    try:
        asyncio.BaseEventLoop.create_task(Loop(), None)  # type: ignore[arg-type]
    except Exception:  # another version's create_task: it does not
        return False
    return names == [None]


def task_factory(previous: Callable[..., Any] | None) -> Callable[..., Any]:
    """A loop task factory that notes, for each task a test creates, where."""
    task_class = _KeepsItsName if _names_tasks_none() else asyncio.Task

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = previous(loop, coro, **kwargs) if previous else task_class(coro, loop=loop, **kwargs)
        owner = task_owner.get()
        if owner is not None and type(coro).__name__ != "async_generator_athrow":
            # (not the loop's own task that closes an async generator the test dropped)
            spawned = owner.spawned
            spawned[task] = user_frame(sys._getframe(1))
            # A finished task is the test's alone again: freed when it lets go,
            # and "Task exception was never retrieved" logged then, as usual.
            # (In a context of no test: no state is switched for it.)
            task.add_done_callback(lambda done: spawned.pop(done, None), context=contextvars.Context())
        return task

    return factory


def pending_leaks(runner: TaskRunner) -> tuple[str, traceback.FrameSummary | None] | None:
    """Cancel the tasks the test left pending; say which they were, and where
    the first was made. Runs in the test's greenlet, after its teardown."""
    if runner.spawned:
        await_only(asyncio.sleep(0))  # tasks the test just cancelled finish now
    leaked = [(task, made_at) for task, made_at in runner.spawned.items() if not task.done()]
    runner.spawned.clear()
    if not leaked:
        return None
    for task, _ in leaked:
        task.cancel()
    try:
        await_only(asyncio.sleep(0))  # they unwind now, most of them at once
    except asyncio.CancelledError:  # by one of them (a gather of every task it cancelled)
        if hasattr(runner.aio_task, "uncancel"):
            runner.aio_task.uncancel()
    for task, _ in leaked:
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            # in the test's teardown log, as asyncio.run() logs it at its end
            task.get_loop().call_exception_handler({
                "message": "unhandled exception while cancelling a task the test left pending",
                "exception": error,
                "task": task,
            })
    listed = "; ".join(f"coroutine {_coro_name(task)} created at {where(made_at)}" for task, made_at in leaked)
    return f"{runner.task.nodeid} left {len(leaked)} task(s) pending, now cancelled: {listed}", leaked[0][1]


def _coro_name(task: Any) -> str:
    coro = task.get_coro() if hasattr(task, "get_coro") else None
    return getattr(coro, "__qualname__", repr(coro))


class Watchdog:
    """Times the steps of the tests' code; a thread samples long ones."""

    def __init__(self, threshold: float, report: Callable[[TaskRunner, float, traceback.FrameSummary | None], None]) -> None:
        self.threshold = threshold
        self._report = report
        # (runner, when its current step began), while a test's code runs
        self._current: tuple[TaskRunner, float] | None = None
        # where the running step was seen by the thread, and for which step
        self._sampled: tuple[float, traceback.FrameSummary | None] | None = None
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        # set by the first step to begin while the thread waits for one
        self._wake = threading.Event()
        self._idle = False
        self._thread = threading.Thread(target=self._watch, name="pytest-asyncio-coop watchdog", daemon=True)
        #: set when a test that never yields ends the run (by SIGINT)
        self.ended = False
        # the terminal's stderr, made now, while pytest's capture is suspended:
        # later fd 2 may be a capture file
        self._stderr = os.dup(2)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        os.close(self._stderr)

    def step_begins(self, runner: TaskRunner) -> None:
        self._current = (runner, perf_counter())
        if self._idle:  # the thread waits for a step to begin
            self._idle = False
            self._wake.set()

    def step_ends(self, runner: TaskRunner) -> None:
        current, self._current = self._current, None
        if current is None or current[0] is not runner:
            return
        duration = perf_counter() - current[1]
        if duration > self.threshold:
            sampled = self._sampled
            location = sampled[1] if sampled is not None and sampled[0] == current[1] else None
            self._report(runner, duration, location)

    def _watch(self) -> None:
        # Each wake-up takes the GIL from the main thread, which then waits to
        # get it back (a millisecond or two here): so the thread sleeps until
        # the running step could become a block, then looks often enough to
        # see where it is before it ends.
        first_look = self.threshold * 0.75
        interval = max(0.01, self.threshold / 4)
        wait = first_look
        while not self._stop.wait(wait):
            wait = first_look
            current = self._current
            if current is None:
                # No test's code runs (the loop waits, or pytest reports):
                # sleep until a step begins.
                self._idle = True
                if self._current is None:
                    self._wake.wait()
                self._wake.clear()
                self._idle = False
                continue
            runner, began = current
            held = perf_counter() - began
            if held < first_look:
                wait = max(0.01, first_look - held)
                continue
            wait = interval
            frame = sys._current_frames().get(self._main)
            location, sampled = user_frame(frame), self._sampled
            # Once the test's own code returned, the step's tail is pytest's and
            # this plugin's: a sample there does not replace one in the test.
            if location is not None or sampled is None or sampled[0] != began:
                self._sampled = (began, location)
            limit = runner.task.timeout + max(1.0, runner.task.timeout)
            if held > limit and not self.ended:
                self._end_run(runner, held, frame)

    def _end_run(self, runner: TaskRunner, held: float, frame: Any) -> None:
        """A test that never yields cannot be cancelled: stop the run, loudly."""
        self.ended = True
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)\n"
        self._say(
            f"\npytest-asyncio-coop: {runner.task.nodeid} has held the event loop for {held:.1f} s without "
            f"yielding, past its timeout of {runner.task.timeout:g} s and a grace period; it cannot be "
            f"cancelled, so the run ends here. It is at:\n{stack}"
        )
        os.kill(os.getpid(), signal.SIGINT)
        if not self._stop.wait(10):
            self._say("pytest-asyncio-coop: the test did not stop; exiting.\n")
            os._exit(3)

    def _say(self, text: str) -> None:
        os.write(self._stderr, text.encode(errors="replace"))
