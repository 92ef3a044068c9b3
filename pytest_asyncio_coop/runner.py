"""One cooperative test's run: its greenlet, its deadline, its process-global
state, its captured output, its held-back log calls, and a ``flakey`` retry.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import TYPE_CHECKING, Any, Callable

from . import isolation, unraisable
from .bridge import LoopAside, current_task_runner, run_in_greenlet, task_owner
from .capture import TaskOutput
from .deadlines import monotonic
from .manager import HookFailure
from .models import Task, TaskState, TimeoutAction

if TYPE_CHECKING:
    from .deadlines import Deadline
    from .scheduler import Scheduler


def _await_stack(awaitable: object) -> list[traceback.FrameSummary]:
    """The frames of a coroutine (or async generator) chain, outermost first."""
    frames = []
    while awaitable is not None:
        frame = next((getattr(awaitable, a) for a in ("cr_frame", "ag_frame", "gi_frame") if getattr(awaitable, a, None)), None)
        if frame is None:
            break
        frames.append(traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        awaitable = next(
            (getattr(awaitable, a) for a in ("cr_await", "ag_await", "gi_yieldfrom") if getattr(awaitable, a, None)), None
        )
    return frames


# a deadline timer that goes off less than this before the deadline (which
# was postponed by as little) counts as on time
_EARLY = 0.001


class TaskTimeout(Exception):
    """A cooperative test ran past its timeout."""


TaskTimeout.__module__ = "pytest_asyncio_coop"


class TaskRunner:
    """Drives one task: its greenlet, its deadline and its held-back log calls."""

    def __init__(self, task: Task, scheduler: Scheduler) -> None:
        self.task = task
        self.item = task.item
        self.scheduler = scheduler
        self.hooks = scheduler.manager.relay_for(task.item.path)
        #: the process-global state as this test's code last left it (hazards 4, 7)
        self.globals = isolation.TaskGlobals()
        #: what the test wrote, and the handlers its log records go to (hazard 5)
        self.output = TaskOutput()
        self.log_handlers: list[logging.Handler] = []  # caplog's, the report's; made on first need
        self.logging = False  # set while one of its phases runs
        self.subtest_log_handlers: tuple[logging.Handler, ...] = ()  # while a subtest runs
        self.log_phase = "setup"  # the phase whose records the handlers hold
        #: what await_only is stepping in the greenlet, outermost first, with
        #: what it is ("fixture 'db'"; None for the test itself)
        self.awaiting: list[tuple[object, str | None]] = []
        # what the test was waiting in when its deadline passed
        self._timed_out_in: str | None = None
        #: the TaskTimeout raised into the test, if its deadline passed
        self.timed_out: TaskTimeout | None = None
        # set when the deadline passed and the cancellation is still in flight
        self._timing_out = False
        self._timer: Deadline | None = None
        # set when the deadline's timer is to be set as the test first waits
        self._timer_pending = False
        #: what set the test's timeout, for the TaskTimeout's message
        self.timeout_source = "timeout on the marker" if "timeout" in task.options else "asyncio_task_timeout"
        # the deadline, timeout and source that another plugin's timeout
        # (pytest-timeout's) replaced for a while
        self._limited: tuple[float | None, float, str] | None = None
        self.aio_task: asyncio.Task[None] | None = None
        # log hook calls made by the protocol, replayed when the item is done (hazard 6)
        self.logs: list[tuple[Any, ...]] = []
        # failures of third-party hooks (and blocks, with --asyncio-blocking=error),
        # raised in the test's setup or teardown
        self.setup_failures: list[BaseException] = []
        self.teardown_failures: list[Exception] = []
        #: unraisable exceptions and exceptions in threads it caused, each with
        #: pytest's queue for it, until its current phase ends (unraisable.py)
        self.held_exceptions: list[tuple[Any, Any]] = []
        #: tasks the test created that are not done yet, and where (diagnostics.task_factory)
        self.spawned: dict[asyncio.Future[Any], traceback.FrameSummary | None] = {}
        #: "setup", "call" or "teardown": the protocol phase under way
        self.phase = "setup"
        #: the loop, while the test's protocol runs with it set aside (bridge.LoopAside)
        self.loop_aside: asyncio.AbstractEventLoop | None = None
        #: set while pytest-rerunfailures waits before running it again (shims.py)
        self.between_attempts = False
        #: set when the run stops (-x, Ctrl-C) while this task runs: it is
        #: cancelled, its teardown runs, and it is not counted
        self.stopped = False
        task._stack_source = lambda: _await_stack(self.awaiting[0][0] if self.awaiting else None)

    async def run(self) -> None:
        current_task_runner.set(self)
        task_owner.set(self)
        task = self.task
        task.state = TaskState.RUNNING
        task.started_at = monotonic()
        self.scheduler.started()
        self._arm_on_wait(task.started_at + task.timeout)
        self.call_hook(self.hooks.on_task_start, self.setup_failures, task=task)
        try:
            await run_in_greenlet(self._protocol, self)
            while self._retry():
                task.attempt += 1
                self._arm_on_wait(monotonic() + task.timeout)
                await run_in_greenlet(self._protocol, self)
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            task.finished_at = monotonic()
            if task.state is TaskState.RUNNING:
                task.state = TaskState.FINISHED
            self.globals.finish()
            unraisable.release(self)  # its last phase ended before they could go: reported by pytest later
            self.scheduler.finish(self)
            self._let_go()

    def _let_go(self) -> None:
        """No reference cycle keeps the test's objects (this runner, its
        Task, its context) alive once it is done: they are freed at once,
        rather than piling up until the next full garbage collection."""
        self.aio_task = None
        self.spawned.clear()
        self.timed_out = None  # its traceback holds the frames that hold this runner
        self.setup_failures.clear()
        self.teardown_failures.clear()
        self.task._stack_source = None
        current_task_runner.set(None)
        task_owner.set(None)

    def _protocol(self) -> None:
        # with the loop set aside, as under pytest-asyncio, which runs its
        # loop only in a test's body and its async fixtures: a sync fixture
        # or sync body may call asyncio.run(); what the test awaits steps
        # with the loop back in place
        with LoopAside(self):
            self.item.ihook.pytest_runtest_protocol(item=self.item, nextitem=None)

    def retries_on_failure(self) -> bool:
        """Whether a failure now would be run again (``flakey``), not counted."""
        return self.task.attempt == 1 and not self.stopped and self.item.get_closest_marker("flakey") is not None

    def will_retry(self) -> bool:
        """At its teardown: whether it failed so far and will run again (``flakey``)."""
        return any(
            call[2]["report"].failed for call in self.logs if call[0] == "pytest_runtest_logreport"
        ) and self.retries_on_failure()

    def _retry(self) -> bool:
        """A failed ``flakey`` test runs once more; its failure is shown as a rerun."""
        if not self.will_retry():
            return False
        for call in self.logs:
            report = call[2].get("report")
            if call[0] == "pytest_runtest_logreport" and report.failed:
                report.outcome = "rerun"  # a copy, made when it was held back
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.timed_out = None
        return True

    def stop(self) -> None:
        """Cancel this task because the run stops; its teardown still runs,
        uncancelled."""
        if self.aio_task is None:
            return  # done already
        self.stopped = True
        self.task.state = TaskState.CANCELLED
        if self.phase != "teardown" or self.between_attempts:
            self.aio_task.cancel()

    def call_hook(self, caller: Callable[..., Any], failures: list[HookFailure], **kwargs: Any) -> Any:
        result, failure = self.scheduler.manager.call(caller, **kwargs)
        if failure is not None:
            failures.append(failure)
        return result

    def _arm(self, deadline: float) -> None:
        self.task.deadline = deadline
        self._set_timer()

    def _set_timer(self) -> None:
        self._timer = self.scheduler.deadlines.add(self.task.deadline, self._on_deadline)

    def _arm_on_wait(self, deadline: float) -> None:
        """Before the test's code runs: its deadline, whose timer is set when
        the test first waits. A test done before then (most are) needs none:
        only a wait can be cancelled."""
        self.task.deadline = deadline
        self._timer_pending = True

    def limit(self, seconds: float, source: str) -> None:
        """Another plugin's timeout of ``seconds`` from now (pytest-timeout's):
        the deadline moves that close if it was later, until :meth:`unlimit`."""
        deadline = monotonic() + seconds
        if self.task.deadline is not None and deadline >= self.task.deadline:
            return
        self._limited = (self.task.deadline, self.task.timeout, self.timeout_source)
        self.task.timeout, self.timeout_source = seconds, source
        self._move_deadline(deadline)

    def unlimit(self) -> None:
        """The test's own timeout again, and its deadline unless the other
        one passed (then its teardown's fresh one stands)."""
        if self._limited is None:
            return
        deadline, self.task.timeout, self.timeout_source = self._limited
        self._limited = None
        if self.timed_out is None and not self._timing_out:
            self._move_deadline(deadline)

    def _move_deadline(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            if deadline is not None:
                self._arm(deadline)
        elif self._timer_pending:
            self.task.deadline = deadline  # its timer is set as the test first waits

    def postpone(self, seconds: float) -> None:
        """The loop was stopped for ``seconds`` (an xdist worker running other
        items): that time does not count against the test. Its timer, set
        for the earlier deadline, moves on when it goes off."""
        if self.task.deadline is not None:
            self.task.deadline += seconds
        if self._limited is not None and self._limited[0] is not None:
            self._limited = (self._limited[0] + seconds, *self._limited[1:])

    def _on_deadline(self) -> None:
        self._timer = None
        if self.task.deadline > monotonic() + _EARLY:  # postponed meanwhile
            self._set_timer()
            return
        action = self.call_hook(self.hooks.on_task_timeout, self.teardown_failures, task=self.task)
        if action is not None and not isinstance(action, TimeoutAction):
            self.teardown_failures.append(HookFailure(f"on_task_timeout returned {action!r}, not a TimeoutAction"))
        elif action is not None and action.extend_by is not None:
            self._arm(monotonic() + action.extend_by)
            return
        self.task.state = TaskState.TIMED_OUT
        self._timing_out = True
        label = self.awaiting[0][1] if self.awaiting else None
        self._timed_out_in = f"{label} at {self.phase}" if label else f"the test's {self.phase}"
        assert self.aio_task is not None
        self.aio_task.cancel()

    # Called by the bridge around every switch into and out of this task's code.

    def resume(self) -> None:
        self.globals.enter()
        self.scheduler.watchdog.step_begins(self)

    def suspend(self, waits: bool = False) -> None:
        self.scheduler.watchdog.step_ends(self)
        # waiting alone, as with pytest alone its values stay in place
        self.globals.leave(stay=waits and self.scheduler.running_alone())

    def waits(self) -> None:
        """The test's code yields to the loop until what it awaits is done."""
        self.suspend(waits=True)
        if self._timer_pending:
            self._timer_pending = False
            self._set_timer()

    def checkpoint(self) -> None:
        """End the current step of the test's code here (it goes on running),
        so that a block in it is seen now."""
        watchdog = self.scheduler.watchdog
        watchdog.step_ends(self)
        watchdog.step_begins(self)

    def timeout_error(self) -> TaskTimeout | None:
        """After each step ``await_only`` takes: if the deadline passed, the
        :class:`TaskTimeout` to raise there (once), whether the cancellation
        came out of the awaitable or it swallowed it."""
        if not self._timing_out:
            return None
        self._timing_out = False
        assert self.aio_task is not None
        if hasattr(self.aio_task, "uncancel"):
            self.aio_task.uncancel()
        timeout = self.task.timeout
        message = (
            f"timed out after {float(timeout)} s ({self.timeout_source} = {timeout:g}), waiting in {self._timed_out_in}"
        )
        if self.task.timeout_stack:
            message += "\nawait stack at the timeout, outermost first:\n" + "".join(
                f"  {frame.filename}:{frame.lineno} in {frame.name}\n" for frame in self.task.timeout_stack
            )
        # Teardown still runs, uncancelled, but is bounded by a fresh deadline.
        self._arm(monotonic() + timeout)
        self.timed_out = TaskTimeout(message.rstrip())
        return self.timed_out
