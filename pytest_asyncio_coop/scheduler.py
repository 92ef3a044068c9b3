"""The loop: admission under the cap, deadlines as timers, and the session's run.

Nothing here polls: tasks are admitted from done-callbacks and timeouts are
``loop.call_at`` timers (hazard 8).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

import pytest

from . import _pytest_compat as compat
from .bridge import current_runner, run_in_greenlet
from .concurrency import FixtureInstances, SetupState
from .models import Settings, Task, TaskState

if TYPE_CHECKING:
    from .bridge import BridgeGreenlet  # noqa: F401

CURRENT_TEST_VAR = "PYTEST_CURRENT_TEST"
_LOG_HOOKS = frozenset({"pytest_runtest_logstart", "pytest_runtest_logreport", "pytest_runtest_logfinish"})


class TaskTimeout(Exception):
    """A cooperative test ran past its timeout."""


TaskTimeout.__module__ = "pytest_asyncio_coop"


class TaskRunner:
    """Drives one task: its greenlet, its deadline and its held-back log calls."""

    def __init__(self, task: Task, scheduler: Scheduler) -> None:
        self.task = task
        self.item = task.item
        self._scheduler = scheduler
        # PYTEST_CURRENT_TEST as this task's code last left it (hazard 4)
        self._current_test: str | None = None
        # set when the deadline passed and the cancellation is still in flight
        self._timing_out = False
        self._timer: asyncio.TimerHandle | None = None
        self.aio_task: asyncio.Task[None] | None = None
        # log hook calls made by the protocol, replayed when the item is done (hazard 6)
        self.logs: list[tuple[Any, ...]] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        task = self.task
        task.state = TaskState.RUNNING
        task.started_at = loop.time()
        self._arm(task.started_at + task.timeout)
        try:
            await run_in_greenlet(self._protocol, self)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            task.finished_at = loop.time()
            if task.state is TaskState.RUNNING:
                task.state = TaskState.FINISHED
            self._scheduler.replay_logs(self)

    def _protocol(self) -> None:
        self.item.ihook.pytest_runtest_protocol(item=self.item, nextitem=None)

    def _arm(self, deadline: float) -> None:
        self.task.deadline = deadline
        self._timer = asyncio.get_running_loop().call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self.task.state = TaskState.TIMED_OUT
        self._timing_out = True
        assert self.aio_task is not None
        self.aio_task.cancel()

    # Called by the bridge around every switch into and out of this task's code.

    def resume(self) -> None:
        value = self._current_test
        if os.environ.get(CURRENT_TEST_VAR) != value:
            if value is None:
                os.environ.pop(CURRENT_TEST_VAR, None)
            else:
                os.environ[CURRENT_TEST_VAR] = value

    def suspend(self) -> None:
        self._current_test = os.environ.get(CURRENT_TEST_VAR)

    def translate(self, exc: BaseException | None) -> BaseException | None:
        """Turn the timeout's cancellation into the failure the test reports."""
        if not self._timing_out:
            return exc
        self._timing_out = False
        assert self.aio_task is not None
        if hasattr(self.aio_task, "uncancel"):
            self.aio_task.uncancel()
        timeout = self.task.timeout
        error = TaskTimeout(f"timed out after {float(timeout)} s (asyncio_task_timeout = {timeout:g})")
        if exc is not None:
            error.__traceback__ = exc.__traceback__
        error.__suppress_context__ = True
        # Teardown still runs, uncancelled, but is bounded by a fresh deadline.
        self._arm(asyncio.get_running_loop().time() + timeout)
        return error


class Scheduler:
    """Admits queued tasks under the cap and waits until all are done."""

    def __init__(self, session: pytest.Session, items: list[pytest.Item], settings: Settings,
                 instances: FixtureInstances, replay: Callable[..., Any]) -> None:
        self._session = session
        self._settings = settings
        self._instances = instances
        self._replay = replay
        self._items = items
        self._running: set[asyncio.Task[None]] = set()
        self._fatal: BaseException | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = loop.create_future()
        now = loop.time()
        timeout = self._settings.task_timeout
        self._queue = deque(Task(item=item, nodeid=item.nodeid, timeout=timeout, queued_at=now) for item in self._items)
        self._admit()
        await self._done

    def _stopping(self) -> bool:
        return bool(self._session.shouldfail or self._session.shouldstop or self._fatal is not None)

    def _admit(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue and len(self._running) < self._settings.max_tasks and not self._stopping():
            task = self._queue.popleft()
            runner = TaskRunner(task, self)
            self._instances.give_item_its_own(task.item)
            runner.aio_task = loop.create_task(runner.run())
            self._running.add(runner.aio_task)
            runner.aio_task.add_done_callback(self._on_done)
        if not self._running and not self._done.done():
            self._done.set_result(None)

    def _on_done(self, aio_task: asyncio.Task[None]) -> None:
        self._running.discard(aio_task)
        exc = None if aio_task.cancelled() else aio_task.exception()
        if exc is not None and self._fatal is None:
            # pytest.exit() or an internal error: stop admitting, wind the others down.
            self.interrupt(exc)
        self._admit()

    def interrupt(self, exc: BaseException) -> None:
        """Admit nothing more and cancel what runs; teardowns still run."""
        if self._fatal is None:
            self._fatal = exc
        for other in self._running:
            other.cancel()

    @property
    def fatal(self) -> BaseException | None:
        """What stopped the run early (``pytest.exit()``, Ctrl-C), if anything."""
        return self._fatal

    def replay_logs(self, runner: TaskRunner) -> None:
        outcomes = []
        for call in runner.logs:
            self._replay(*call)
            report = call[2].get("report")
            if report is not None:
                outcomes.append(report.outcome)
        runner.logs.clear()
        runner.task.outcome = next((o for o in ("failed", "skipped") if o in outcomes), "passed" if outcomes else None)


def _hold_back_logs(original: Callable[..., Any]) -> Callable[..., Any]:
    def hookexec(name: str, impls: Any, kwargs: dict[str, Any], firstresult: bool) -> Any:
        if name in _LOG_HOOKS:
            runner = current_runner()
            if runner is not None:
                runner.logs.append((name, impls, kwargs, firstresult))
                return []
        return original(name, impls, kwargs, firstresult)

    return hookexec


def run_session(session: pytest.Session, cooperative: list[pytest.Item], settings: Settings) -> bool:
    """Run the session's items: the others first, in pytest's usual way, then
    the cooperative ones together on one loop."""
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
    # Through sys.modules, not the package attribute: pytester's in-process runs
    # drop our submodules from sys.modules between runs.
    protocol = importlib.import_module(f"{__package__}.protocol")
    if not pluginmanager.is_registered(protocol):
        pluginmanager.register(protocol, "asyncio_coop.protocol")
    executor = compat.hook_executor(pluginmanager, _hold_back_logs)
    scheduler = Scheduler(session, cooperative, settings, instances, executor.original)
    loop = asyncio.new_event_loop()
    try:
        main = loop.create_task(scheduler.run())
        try:
            loop.run_until_complete(main)
        except BaseException as exc:  # Ctrl-C or SystemExit out of a test's task
            scheduler.interrupt(exc)
        if not main.done():
            # The others are cancelled; their teardowns run before it propagates.
            loop.run_until_complete(main)
        if scheduler.fatal is not None:
            raise scheduler.fatal
    finally:
        executor.restore()
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            os.environ.pop(CURRENT_TEST_VAR, None)
    if session.shouldfail:
        raise session.Failed(session.shouldfail)
    if session.shouldstop:
        raise session.Interrupted(session.shouldstop)
    return True
