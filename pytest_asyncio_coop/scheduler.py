"""Admission under the cap, and the end of each task: its outcome, the
``on_task_finish`` hook, and its log calls replayed as one unit.

Every decision goes through this plugin's hooks (``order_tasks``,
``admit_task``); the built-in behaviour is their default implementations.
Nothing here polls: tasks are admitted from done-callbacks (hazard 8).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import traceback
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, ContextManager

import pytest

from .bridge import current_task_runner
from .capture import OutputRouting
from .concurrency import FixtureInstances
from .deadlines import Deadlines, monotonic
from .diagnostics import LoopBlocked, Watchdog, where
from .manager import HookFailure, Manager
from .models import Admission, LockInfo, Settings, Task
from .plugin import LATE_MARKER_PROBLEM, is_cooperative, marker_options
from .runner import TaskRunner

if TYPE_CHECKING:
    from .lock import Lock

# passing tests whose log calls may wait for the end of the loop's iteration
_REPLAY_BATCH = 64

# admitted tests whose first step may be pending at once: between batches
# the loop serves its timers and I/O, and tests that sleep wake on time
# rather than after every other test has set up
_START_BATCH = 32

# the scheduler of the cooperative phase under way, for lock hooks outside tests
_active: dict[str, Scheduler] = {}


class Scheduler:
    """Admits queued tasks under the cap and waits until all are done."""

    def __init__(self, session: pytest.Session, settings: Settings, manager: Manager,
                 instances: FixtureInstances, replay: Callable[..., Any], routing: OutputRouting,
                 replaying: Callable[[pytest.Item], ContextManager[None]] = lambda item: contextlib.nullcontext()) -> None:
        self._session = session
        self._replaying = replaying
        self.settings = settings
        self.manager = manager
        #: where fixture instances live, and the single-flight sections
        self.instances = instances
        self._replay = replay
        #: where the tests' output and log records go
        self.routing = routing
        self._queue: deque[Task] = deque()
        # admitted tasks whose first step has not run yet
        self._starting = 0
        # set while a call of _admit is scheduled for the loop's next pass
        self._admit_scheduled = False
        # finished tests whose log calls wait to be replayed, with the
        # failures of their on_task_finish hooks
        self._unreplayed: deque[tuple[TaskRunner, list[HookFailure]]] = deque()
        # running task -> its runner, in admission order
        self._running: dict[Task, TaskRunner] = {}
        routing.running = self._running.values()
        # set once no more items will be added
        self._closed = False
        self._fatal: BaseException | None = None
        # a session-wide hook failure that every test reports at setup
        self.session_failure: HookFailure | None = None
        #: called as each test ends: the session's loop forgets the
        #: transports whose sockets a test closed (descriptors.py)
        self.forget_orphans_soon: Callable[[], None] = lambda: None
        # [tests run, first start, last end, sum of their durations]
        self.stats: list[float] = [0, float("inf"), 0.0, 0.0]
        #: times the steps of tests' code (diagnostics)
        self.watchdog = Watchdog(settings.block_threshold, self._loop_blocked)
        self.deadlines = Deadlines()
        # node id -> [longest block, total blocked, where the longest was]
        self.blocks: dict[str, list[Any]] = {}
        #: durations of tests, from the last run and from this one
        self.durations = Durations(session.config)
        #: set once the reports a running test holds back will stop the
        #: session when logged (-x, --maxfail): nothing more starts, and tests
        #: ending tear down what no running test needs (see expect_stop)
        self.stop_expected = False
        self._maxfail = session.config.getvalue("maxfail")  # -x is 1

    async def run(self) -> None:
        """Wait until every task added is done and no more will come."""
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._context = contextvars.copy_context()  # no test's: where tests are admitted
        self._admit()
        while not self._done.done():
            try:
                await asyncio.shield(self._done)
            except asyncio.CancelledError:
                # A test cancelled every task on the loop (a signal handler's
                # clean-up, say): this one is not the test's to cancel.
                survive_cancellation()
        self._replay_finished()

    def add(self, items: list[pytest.Item], *, ordered: bool) -> None:
        """Queue tasks for ``items``; ``ordered``: let ``order_tasks`` order them."""
        now = monotonic()
        known = self.durations.known
        tasks = [self._new_task(item, self.settings.task_timeout, now, known.get(item.nodeid)) for item in items]
        if ordered:
            order, failure = self.manager.call(self.manager.pm.hook.order_tasks, tasks=tasks, settings=self.settings)
            completed = _complete_order(order, tasks)
            if completed is None:
                failure = failure or HookFailure(f"order_tasks returned {order!r:.200}, not a sequence of the tasks")
            self.session_failure = self.session_failure or failure
            tasks = completed or tasks
        self._queue.extend(tasks)
        self._admit()

    def close(self) -> None:
        """No more items will be added."""
        self._closed = True
        self._admit()

    @staticmethod
    def _new_task(item: pytest.Item, timeout: float, now: float, expected: float | None) -> Task:
        options = marker_options(item)
        return Task(
            item=item, nodeid=item.nodeid, timeout=options.get("timeout", timeout), queued_at=now, options=options,
            expected_duration=expected,
        )

    def _loop_blocked(self, runner: TaskRunner, duration: float, location: traceback.FrameSummary | None) -> None:
        if not is_cooperative(runner.item):
            return  # a sync test overlapping cooperative ones holds the loop by design
        record = self.blocks.setdefault(runner.task.nodeid, [0.0, 0.0, None])
        if duration > record[0]:
            record[0], record[2] = duration, location or record[2]
        record[1] += duration
        runner.call_hook(
            runner.hooks.on_loop_blocked, runner.teardown_failures, task=runner.task, duration=duration, location=location
        )
        if self.settings.blocking == "error":
            runner.teardown_failures.append(
                LoopBlocked(
                    f"held the event loop for {duration:.2f} s (asyncio_block_threshold = "
                    f"{self.settings.block_threshold:g}) at {where(location)}"
                )
            )

    def blocked_lines(self) -> list[str]:
        """The summary section's lines, worst first."""
        return [
            f"{nodeid}: longest {longest:.2f} s, {total:.2f} s in all, at {where(location)}"
            for nodeid, (longest, total, location) in sorted(self.blocks.items(), key=lambda kv: -kv[1][0])
        ]

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

    def expect_stop(self, runner: TaskRunner) -> None:
        """At the start of a test's teardown: will its reports stop the
        session once logged? pytest logs each report as it is made, so it
        knows by then, and tears everything down in that teardown (its #11706:
        the teardown errors of shared fixtures are then that test's). Here the
        reports wait until the test is done, so their effect on ``--maxfail``
        is worked out from them, as ``Session.pytest_runtest_logreport``
        counts. Tests admitted but not started are cancelled now: they will
        not run, and must not set up again what is being torn down."""
        maxfail = self._maxfail
        if not maxfail or self.stop_expected or runner.retries_on_failure():
            return
        reports = (call[2].get("report") for call in runner.logs)
        failures = sum(1 for r in reports if r is not None and r.failed and not hasattr(r, "wasxfail"))
        if failures and self._session.testsfailed + failures >= maxfail:
            self.stop_expected = True
            for other in list(self._running.values()):
                if other.task.started_at is None:
                    other.stop()

    def _admit(self) -> None:
        while (
            self._queue and len(self._running) < self.settings.max_tasks and self._starting < _START_BATCH
            and not self._stopping() and not self.stop_expected
        ):
            picked = self._pick()
            if picked is None:
                break
            self._start(*picked)
        done = self._closed or self._stopping()
        if done and not self._running and hasattr(self, "_done") and not self._done.done():
            self._done.set_result(None)

    def _pick(self) -> tuple[Task, HookFailure | None] | None:
        """The next queued task ``admit_task`` lets start, with the failure of
        that hook if it raised; None to start nothing now."""
        running = self._running.keys()
        for index, task in enumerate(self._queue):
            decision, failure = self.manager.call(
                self.manager.relay_for(task.item.path).admit_task, task=task, running=running, settings=self.settings
            )
            if failure is None and decision is not None and not isinstance(decision, Admission):
                failure = HookFailure(f"admit_task returned {decision!r}, not an Admission")
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
        if self.session_failure is not None:
            runner.setup_failures.append(self.session_failure)
        if failure is not None:
            runner.setup_failures.append(failure)
        late_problem = task.item.stash.get(LATE_MARKER_PROBLEM, None)
        if late_problem is not None:
            runner.setup_failures.append(pytest.fail.Exception(late_problem, pytrace=False))
        self.instances.give_item_its_own(task.item)
        runner.aio_task = asyncio.get_running_loop().create_task(runner.run())
        self._running[task] = runner
        self._starting += 1
        runner.aio_task.add_done_callback(lambda aio_task: self._on_done(task, aio_task))

    def running_alone(self) -> bool:
        """Whether one test runs now, and none else."""
        return len(self._running) == 1

    def started(self) -> None:
        """A task's first step runs: once its batch has, the next is admitted
        on the loop's next pass."""
        self._starting -= 1
        if self._queue and not self._admit_scheduled:
            self._admit_scheduled = True
            asyncio.get_running_loop().call_soon(self._admit_next_batch, context=self._context)

    def _admit_next_batch(self) -> None:
        self._admit_scheduled = False
        self._admit()

    def _on_done(self, task: Task, aio_task: asyncio.Task[None]) -> None:
        del self._running[task]
        if task.started_at is None:  # cancelled before its first step
            self._starting -= 1
        exc = None if aio_task.cancelled() else aio_task.exception()
        if exc is not None and self._fatal is None:
            # pytest.exit() or an internal error: stop admitting, wind the others down.
            self.interrupt(exc)
        self._admit()
        self.place_lone_test()

    def place_lone_test(self) -> None:
        """With one test running, its values are in place while it waits
        (isolation.py), as with pytest alone."""
        if self.running_alone():
            (runner,) = self._running.values()
            runner.globals.wait_in_place()

    def interrupt(self, exc: BaseException) -> None:
        """Admit nothing more and cancel what runs; teardowns still run."""
        if self._fatal is None:
            self._fatal = exc
        self._stop_running()
        self._admit()  # done, if nothing runs

    def postpone(self, seconds: float) -> None:
        """Move the running tests' deadlines ``seconds`` later."""
        for runner in self._running.values():
            runner.postpone(seconds)

    def _stop_running(self) -> None:
        for runner in self._running.values():
            if not runner.stopped:
                runner.stop()

    def finish(self, runner: TaskRunner) -> None:
        """Settle the task's outcome, tell ``on_task_finish``, and have its
        log calls replayed, now or at the end of the loop's iteration."""
        task = runner.task
        stats = self.stats
        stats[0] += 1
        stats[1] = min(stats[1], task.started_at or stats[1])
        stats[2] = max(stats[2], task.finished_at or 0.0)
        stats[3] += (task.finished_at or 0.0) - (task.started_at or 0.0)
        if task.started_at is not None and task.finished_at is not None and not runner.stopped:
            self.durations.record(task.nodeid, task.finished_at - task.started_at)
        if runner.stopped:
            # Cancelled by -x or Ctrl-C: not counted; only a real teardown error shows.
            runner.logs[:] = [call for call in runner.logs if _is_teardown_error(call)]
        outcomes = {call[2]["report"].outcome for call in runner.logs if "report" in call[2]}
        task.outcome = "failed" if "failed" in outcomes else "skipped" if "skipped" in outcomes else "passed" if outcomes else None
        finish_failures: list[HookFailure] = []
        runner.call_hook(runner.hooks.on_task_finish, finish_failures, task=task)
        if finish_failures:
            task.outcome = "failed"
        self._unreplayed.append((runner, finish_failures))
        if task.outcome == "failed" or runner.stopped or self._stopping() or len(self._unreplayed) >= _REPLAY_BATCH:
            # Its reports may stop the session (-x, --maxfail, --sw): they are
            # logged now, before any other test goes on. (Or the terminal
            # has waited long enough.)
            self._replay_finished()
        elif len(self._unreplayed) == 1:
            asyncio.get_running_loop().call_soon(self._replay_later)
        self.routing.release(runner)
        self.forget_orphans_soon()
        self.instances.release(runner.item)

    def _replay_finished(self) -> None:
        """Let finished tests' log calls reach the terminal, each test's as
        one unit, in the order they finished. Those of passing tests wait for
        the end of the loop's iteration, so that the tests finishing in it
        share one suspension of pytest's capture."""
        pending = self._unreplayed
        if pending:
            try:
                with self.routing.terminal():
                    while pending:
                        runner, failures = pending.popleft()
                        with self._replaying(runner.item):
                            for call in runner.logs:
                                if call[0] == "pytest_runtest_logfinish":
                                    self._report_teardown_errors(runner.item, failures)
                                self._replay(*call)
                            self._report_teardown_errors(runner.item, failures)
                        runner.logs.clear()
            finally:
                if pending:  # a hook logging a report raised: the others still come
                    asyncio.get_running_loop().call_soon(self._replay_later)
        if self._stopping():
            self._stop_running()  # -x / --maxfail: the others are cancelled, not counted

    def _replay_later(self) -> None:
        try:
            self._replay_finished()
        except Exception as exc:  # pytest.exit() in a hook that logs reports
            self.interrupt(exc)


def survive_cancellation() -> None:
    """The current task of this plugin's own caught a cancellation that a
    test's code made (cancelling every task): it goes on as if none came."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):  # Python 3.11+
        task.uncancel()


class Durations:
    """Tests' durations in pytest's cache, for the duration-aware order."""

    KEY = "asyncio_coop/durations"

    def __init__(self, config: pytest.Config) -> None:
        self._cache = getattr(config, "cache", None)
        known = self._cache.get(self.KEY, {}) if self._cache is not None else {}
        self.known: dict[str, float] = known if isinstance(known, dict) else {}
        self._new: dict[str, float] = {}

    def record(self, nodeid: str, seconds: float) -> None:
        if self._cache is not None:
            self._new[nodeid] = round(seconds, 3)

    def save(self) -> None:
        if self._cache is not None and self._new:
            self._cache.set(self.KEY, {**self.known, **self._new})


def _is_teardown_error(call: tuple[Any, ...]) -> bool:
    """A teardown report of an error, also one an xfail mark shows as xfailed."""
    report = call[2].get("report")
    return report is not None and report.when == "teardown" and (report.failed or hasattr(report, "wasxfail"))


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


def _complete_order(ordered: Any, tasks: list[Task]) -> list[Task] | None:
    """The hook's order, then any task it left out, each task once; None if
    it returned something else than tasks."""
    try:
        ordered = list(ordered or ())
    except TypeError:
        return None
    if not all(isinstance(task, Task) for task in ordered):
        return None
    queued = {id(task) for task in tasks}
    result = []
    for task in [*ordered, *tasks]:
        if id(task) in queued:
            queued.discard(id(task))
            result.append(task)
    return result


def _teardown_error(item: pytest.Item, failure: HookFailure) -> pytest.TestReport:
    longrepr = "".join(traceback.format_exception(type(failure), failure, failure.__traceback__))
    return pytest.TestReport(
        item.nodeid, item.location, {}, "failed", longrepr.rstrip(), "teardown", [], 0.0
    )
