"""The loop: admission under the cap, deadlines as timers, and the session's run.

Every decision goes through this plugin's hooks (``order_tasks``,
``admit_task``, ``on_task_timeout``, ``make_event_loop``); the built-in
behaviour is their default implementations. Nothing here polls: tasks are
admitted from done-callbacks and timeouts are ``loop.call_at`` timers
(hazard 8).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import traceback
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

import pytest

from . import _pytest_compat as compat
from . import isolation, protocol
from .bridge import current_runner, current_task_runner, run_in_greenlet
from .capture import OutputRouting, TaskOutput
from .concurrency import FixtureInstances, SetupState
from .manager import HookFailure, Manager
from .models import Admission, LockInfo, Settings, Task, TaskState, TimeoutAction
from .plugin import SUMMARY

if TYPE_CHECKING:
    from .lock import Lock

# the scheduler of the cooperative phase under way, for lock hooks outside tests
_active: dict[str, Scheduler] = {}

_LOG_HOOKS = frozenset({"pytest_runtest_logstart", "pytest_runtest_logreport", "pytest_runtest_logfinish"})


class TaskTimeout(Exception):
    """A cooperative test ran past its timeout."""


TaskTimeout.__module__ = "pytest_asyncio_coop"


def _await_stack(awaitable: object) -> list[traceback.FrameSummary]:
    frames = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


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
        self.log_handlers: list[logging.Handler] = []  # caplog's, the report's
        self.logging = False  # set while one of its phases runs
        #: what await_only is stepping in the greenlet, outermost first
        self.awaiting: list[object] = []
        # set when the deadline passed and the cancellation is still in flight
        self._timing_out = False
        self._timer: asyncio.TimerHandle | None = None
        self.aio_task: asyncio.Task[None] | None = None
        # log hook calls made by the protocol, replayed when the item is done (hazard 6)
        self.logs: list[tuple[Any, ...]] = []
        # failures of third-party hooks, raised in the test's setup or teardown
        self.setup_failures: list[HookFailure] = []
        self.teardown_failures: list[HookFailure] = []
        #: "setup", "call" or "teardown": the protocol phase under way
        self.phase = "setup"
        #: set when the run stops (-x, Ctrl-C) while this task runs: it is
        #: cancelled, its teardown runs, and it is not counted
        self.stopped = False
        task._stack_source = lambda: _await_stack(self.awaiting[0] if self.awaiting else None)

    async def run(self) -> None:
        current_task_runner.set(self)
        loop = asyncio.get_running_loop()
        task = self.task
        task.state = TaskState.RUNNING
        task.started_at = loop.time()
        self._arm(task.started_at + task.timeout)
        self.call_hook(self.hooks.on_task_start, self.setup_failures, task=task)
        try:
            await run_in_greenlet(self._protocol, self)
            while self._retry():
                task.attempt += 1
                self._arm(loop.time() + task.timeout)
                await run_in_greenlet(self._protocol, self)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            task.finished_at = loop.time()
            if task.state is TaskState.RUNNING:
                task.state = TaskState.FINISHED
            self.globals.finish()
            self.scheduler.finish(self)

    def _protocol(self) -> None:
        self.item.ihook.pytest_runtest_protocol(item=self.item, nextitem=None)

    def _retry(self) -> bool:
        """A failed ``flakey`` test runs once more; its failure is shown as a rerun."""
        if self.task.attempt > 1 or self.stopped or self.item.get_closest_marker("flakey") is None:
            return False
        reports = [call[2]["report"] for call in self.logs if call[0] == "pytest_runtest_logreport"]
        if not any(report.failed for report in reports):
            return False
        for report in reports:
            if report.failed:
                report.outcome = "rerun"  # a copy, made when it was held back
        if self._timer is not None:
            self._timer.cancel()
        return True

    def stop(self) -> None:
        """Cancel this task because the run stops; its teardown still runs,
        uncancelled."""
        self.stopped = True
        self.task.state = TaskState.CANCELLED
        assert self.aio_task is not None
        if self.phase != "teardown":
            self.aio_task.cancel()

    def call_hook(self, caller: Callable[..., Any], failures: list[HookFailure], **kwargs: Any) -> Any:
        result, failure = self.scheduler.manager.call(caller, **kwargs)
        if failure is not None:
            failures.append(failure)
        return result

    def _arm(self, deadline: float) -> None:
        self.task.deadline = deadline
        self._timer = asyncio.get_running_loop().call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        action = self.call_hook(self.hooks.on_task_timeout, self.teardown_failures, task=self.task)
        if isinstance(action, TimeoutAction) and action.extend_by is not None:
            self._arm(asyncio.get_running_loop().time() + action.extend_by)
            return
        self.task.state = TaskState.TIMED_OUT
        self._timing_out = True
        assert self.aio_task is not None
        self.aio_task.cancel()

    # Called by the bridge around every switch into and out of this task's code.

    def resume(self) -> None:
        self.globals.enter()

    def suspend(self) -> None:
        self.globals.leave()

    def check_timeout(self, exc: BaseException | None) -> None:
        """Called as an awaitable stepped by ``await_only`` ends: if the deadline
        passed meanwhile, the test fails with :class:`TaskTimeout` here, whether
        the cancellation came out of it or the test swallowed it."""
        if not self._timing_out:
            return
        self._timing_out = False
        assert self.aio_task is not None
        if hasattr(self.aio_task, "uncancel"):
            self.aio_task.uncancel()
        timeout = self.task.timeout
        error = TaskTimeout(f"timed out after {float(timeout)} s (asyncio_task_timeout = {timeout:g})")
        # Teardown still runs, uncancelled, but is bounded by a fresh deadline.
        self._arm(asyncio.get_running_loop().time() + timeout)
        if exc is not None:
            raise error.with_traceback(exc.__traceback__) from None
        raise error


class Scheduler:
    """Admits queued tasks under the cap and waits until all are done."""

    def __init__(self, session: pytest.Session, items: list[pytest.Item], settings: Settings,
                 manager: Manager, instances: FixtureInstances, replay: Callable[..., Any],
                 routing: OutputRouting) -> None:
        self._routing = routing
        self._session = session
        self.settings = settings
        self.manager = manager
        self._instances = instances
        self._replay = replay
        self._items = items
        # running task -> its runner, in admission order
        self._running: dict[Task, TaskRunner] = {}
        # [tests run, first start, last end, sum of their durations]
        self.stats: list[float] = [0, float("inf"), 0.0, 0.0]
        self._fatal: BaseException | None = None
        # a session-wide hook failure that every test reports at setup
        self.session_failure: HookFailure | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = loop.create_future()
        now = loop.time()
        timeout = self.settings.task_timeout
        tasks = [self._new_task(item, timeout, now) for item in self._items]
        ordered, failure = self.manager.call(self.manager.pm.hook.order_tasks, tasks=tasks, settings=self.settings)
        self.session_failure = self.session_failure or failure
        self._queue = deque(_complete_order(ordered, tasks))
        self._admit()
        await self._done

    @staticmethod
    def _new_task(item: pytest.Item, timeout: float, now: float) -> Task:
        marker = item.get_closest_marker("asyncio_cooperative")
        return Task(item=item, nodeid=item.nodeid, timeout=timeout, queued_at=now, options=dict(marker.kwargs) if marker else {})

    @staticmethod
    def _report_teardown_errors(item: pytest.Item, failures: list[HookFailure]) -> None:
        while failures:
            item.ihook.pytest_runtest_logreport(report=_teardown_error(item, failures.pop(0)))

    @property
    def fatal(self) -> BaseException | None:
        """What stopped the run early (``pytest.exit()``, Ctrl-C), if anything."""
        return self._fatal

    def _stopping(self) -> bool:
        return bool(self._session.shouldfail or self._session.shouldstop or self._fatal is not None)

    def _admit(self) -> None:
        while self._queue and len(self._running) < self.settings.max_tasks and not self._stopping():
            picked = self._pick()
            if picked is None:
                break
            self._start(*picked)
        if not self._running and not self._done.done():
            self._done.set_result(None)

    def _pick(self) -> tuple[Task, HookFailure | None] | None:
        """The next queued task ``admit_task`` lets start, with the failure of
        that hook if it raised; None to start nothing now."""
        running = self._running.keys()
        for index, task in enumerate(self._queue):
            decision, failure = self.manager.call(
                self.manager.relay_for(task.item.path).admit_task, task=task, running=running, settings=self.settings
            )
            if failure is not None or decision is Admission.ADMIT or decision is None:
                del self._queue[index]
                return task, failure
            if decision is Admission.WAIT:
                break
        if self._running:
            return None
        # Nothing runs and nothing may start: admit in order rather than hang.
        self._session.config.issue_config_time_warning(
            pytest.PytestWarning(
                f"admit_task held back all {len(self._queue)} queued cooperative tests while none was "
                "running; admitting them in order"
            ),
            stacklevel=2,
        )
        return self._queue.popleft(), None

    def _start(self, task: Task, failure: HookFailure | None) -> None:
        runner = TaskRunner(task, self)
        runner.setup_failures.extend(f for f in (self.session_failure, failure) if f is not None)
        self._instances.give_item_its_own(task.item)
        runner.aio_task = asyncio.get_running_loop().create_task(runner.run())
        self._running[task] = runner
        runner.aio_task.add_done_callback(lambda aio_task: self._on_done(task, aio_task))

    def _on_done(self, task: Task, aio_task: asyncio.Task[None]) -> None:
        del self._running[task]
        exc = None if aio_task.cancelled() else aio_task.exception()
        if exc is not None and self._fatal is None:
            # pytest.exit() or an internal error: stop admitting, wind the others down.
            self.interrupt(exc)
        self._admit()

    def interrupt(self, exc: BaseException) -> None:
        """Admit nothing more and cancel what runs; teardowns still run."""
        if self._fatal is None:
            self._fatal = exc
        self._stop_running()

    def _stop_running(self) -> None:
        for runner in self._running.values():
            if not runner.stopped:
                runner.stop()

    def finish(self, runner: TaskRunner) -> None:
        """Settle the task's outcome, tell ``on_task_finish``, then let its log
        calls reach the terminal as one unit."""
        task = runner.task
        stats = self.stats
        stats[0] += 1
        stats[1] = min(stats[1], task.started_at or stats[1])
        stats[2] = max(stats[2], task.finished_at or 0.0)
        stats[3] += (task.finished_at or 0.0) - (task.started_at or 0.0)
        if runner.stopped:
            # Cancelled by -x or Ctrl-C: not counted; only a real teardown error shows.
            runner.logs[:] = [call for call in runner.logs if _is_teardown_error(call)]
        outcomes = [call[2]["report"].outcome for call in runner.logs if "report" in call[2]]
        task.outcome = next((o for o in ("failed", "skipped") if o in outcomes), "passed" if outcomes else None)
        finish_failures: list[HookFailure] = []
        runner.call_hook(runner.hooks.on_task_finish, finish_failures, task=task)
        logs = runner.logs
        if finish_failures:
            task.outcome = "failed"
        with self._routing.terminal():
            for call in logs:
                if call[0] == "pytest_runtest_logfinish":
                    self._report_teardown_errors(runner.item, finish_failures)
                self._replay(*call)
            self._report_teardown_errors(runner.item, finish_failures)
        logs.clear()
        if self._stopping():
            self._stop_running()  # -x / --maxfail: the others are cancelled, not counted


def _is_teardown_error(call: tuple[Any, ...]) -> bool:
    report = call[2].get("report")
    return report is not None and report.when == "teardown" and report.failed


def notify_lock(hook: str, lock: Lock) -> str | None:
    """Call a lock hook for the test whose code holds ``lock`` now; returns its
    node id (None outside a cooperative test)."""
    runner = current_task_runner.get()
    scheduler = runner.scheduler if runner is not None else _active.get("scheduler")
    if scheduler is None:
        return None  # not during a cooperative run: nobody to tell
    task = runner.task if runner is not None else None
    holder = task.nodeid if task is not None and hook == "on_lock_acquire" else None
    info = LockInfo(name=lock.name, locked=lock.locked(), waiting=lock._waiting, holder=holder)
    hooks = runner.hooks if runner is not None else scheduler.manager.pm.hook
    result, failure = scheduler.manager.call(getattr(hooks, hook), lock=info, task=task)
    if failure is not None:
        if runner is not None:
            runner.teardown_failures.append(failure)
        else:
            warnings.warn(pytest.PytestWarning(str(failure)), stacklevel=3)
    return holder


def _complete_order(ordered: Any, tasks: list[Task]) -> list[Task]:
    """The hook's order, then any task it left out, each task once."""
    seen: set[int] = set()
    result = []
    for task in [*(ordered or ()), *tasks]:
        if id(task) not in seen and isinstance(task, Task):
            seen.add(id(task))
            result.append(task)
    return result


def _teardown_error(item: pytest.Item, failure: HookFailure) -> pytest.TestReport:
    longrepr = "".join(traceback.format_exception(type(failure), failure, failure.__traceback__))
    return pytest.TestReport(
        item.nodeid, item.location, {}, "failed", longrepr.rstrip(), "teardown", [], 0.0
    )


def _hold_back_logs(original: Callable[..., Any]) -> Callable[..., Any]:
    def hookexec(name: str, impls: Any, kwargs: dict[str, Any], firstresult: bool) -> Any:
        if name in _LOG_HOOKS:
            runner = current_runner()
            if runner is not None:
                if "report" in kwargs:
                    # As it is now: plugins such as pytest-retry log a report,
                    # then change the same object to the final outcome.
                    kwargs = {**kwargs, "report": copy.copy(kwargs["report"])}
                runner.logs.append((name, impls, kwargs, firstresult))
                return []
        return original(name, impls, kwargs, firstresult)

    return hookexec


class _Leftovers:
    """Stands in for a test's runner while the rest is torn down after an
    interruption; nothing is swapped in or out."""

    item = None
    awaiting: list[object] = []
    log_handlers: list[logging.Handler] = []
    logging = False
    output = TaskOutput()

    def resume(self) -> None:
        pass

    suspend = resume

    def check_timeout(self, exc: BaseException | None) -> None:
        pass


async def _teardown_rest(session: pytest.Session, state: SetupState) -> None:
    try:
        await run_in_greenlet(lambda: state.teardown_exact(None), _Leftovers())  # type: ignore[arg-type]
    except Exception as exc:
        session.config.issue_config_time_warning(
            pytest.PytestWarning(f"tearing down after the run was interrupted failed: {exc!r}"), stacklevel=2
        )


def run_session(session: pytest.Session, cooperative: list[pytest.Item], settings: Settings) -> bool:
    """Run the session's items: the others first, in pytest's usual way, then
    the cooperative ones together on one loop."""
    manager = Manager()
    manager.collect(session.config)
    chosen = set(cooperative)
    sequential = [item for item in session.items if item not in chosen]
    state = SetupState(session.items)
    compat.set_setupstate(session, state)
    instances = FixtureInstances()
    for i, item in enumerate(sequential):
        instances.give_item_its_own(item)
        nextitem = sequential[i + 1] if i + 1 < len(sequential) else cooperative[0]
        state.sequential_item = item
        try:
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        finally:
            state.sequential_item = None
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)

    pluginmanager = session.config.pluginmanager
    if not pluginmanager.is_registered(protocol):
        pluginmanager.register(protocol, "asyncio_coop.protocol")
    executor = compat.hook_executor(pluginmanager, _hold_back_logs)
    routing = OutputRouting(session.config)
    scheduler = Scheduler(session, cooperative, settings, manager, instances, executor.original, routing)
    loop, failure = manager.call(manager.pm.hook.make_event_loop, settings=settings)
    if failure is not None or not isinstance(loop, asyncio.AbstractEventLoop):
        scheduler.session_failure = failure or HookFailure(f"make_event_loop returned {loop!r}, not an event loop")
        loop = asyncio.new_event_loop()
    _active["scheduler"] = scheduler
    isolation.begin()
    routing.start()
    try:
        main = loop.create_task(scheduler.run())
        try:
            loop.run_until_complete(main)
        except BaseException as exc:  # Ctrl-C or SystemExit out of a test's task
            scheduler.interrupt(exc)
        if not main.done():
            # The others are cancelled; their teardowns run before it propagates.
            loop.run_until_complete(main)
        if state.stack:
            # A test's protocol was cut short (Ctrl-C inside it): what it set
            # up is torn down here, on the loop, where async teardown can run.
            loop.run_until_complete(_teardown_rest(session, state))
        stats = scheduler.stats
        session.config.stash[SUMMARY] = (int(stats[0]), max(0.0, stats[2] - stats[1]), stats[3])
        if scheduler.fatal is not None:
            raise scheduler.fatal
    finally:
        routing.stop()
        _active.clear()
        executor.restore()
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            isolation.end()
    if session.shouldfail:
        raise session.Failed(session.shouldfail)
    if session.shouldstop:
        raise session.Interrupted(session.shouldstop)
    return True
