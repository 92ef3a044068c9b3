"""The cooperative run of one session: the sequential items first, then the
cooperative ones together on one loop; or, in a pytest-xdist worker, items as
the worker hands them over. It owns the loop's life and puts back everything
it replaced.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import Any, Callable, ContextManager, Iterator

import pytest

from . import _pytest_compat as compat
from . import descriptors, isolation, loopcalls, protocol
from .bridge import current_runner, drop_idle_greenlets, put_back_current_loop, run_in_greenlet, task_owner
from .capture import OutputRouting, TaskOutput
from .concurrency import FixtureInstances, SetupState
from .deadlines import monotonic
from .diagnostics import task_factory
from .faultdumps import TracebackDumps
from .manager import HookFailure
from .models import Settings
from .interrupt import CtrlC
from .plugin import BLOCKS, SUMMARY, hook_manager
from .scheduler import Scheduler, _active, survive_cancellation
from .shims import RerunDelay
from .unraisable import HeldExceptions

_LOG_HOOKS = frozenset({"pytest_runtest_logstart", "pytest_runtest_logreport", "pytest_runtest_logfinish"})


def _hold_back_logs(original: Callable[..., Any]) -> Callable[..., Any]:
    """Hazard 6: a test's log hook calls wait until the test is done, then
    reach the terminal (and every other listener) as one unit."""

    def hookexec(name: str, impls: Any, kwargs: dict[str, Any], firstresult: bool) -> Any:
        runner = current_runner()
        if runner is None:
            return original(name, impls, kwargs, firstresult)
        report = kwargs.get("report")
        if report is not None:
            # As it is now: plugins such as pytest-retry log a report, then
            # change the same object to the final outcome. (A shallow copy,
            # made the quick way: copy.copy costs more than the rest of this.)
            snapshot = object.__new__(type(report))
            snapshot.__dict__.update(report.__dict__)
            kwargs = {**kwargs, "report": snapshot}
        runner.logs.append((name, impls, kwargs, firstresult))
        return []

    return hookexec


class _Leftovers:
    """Stands in for a test's runner while the rest is torn down after an
    interruption; nothing is swapped in or out."""

    item = None
    loop_aside = None
    awaiting: list[object] = []
    log_handlers: list[logging.Handler] = []
    logging = False
    output = TaskOutput()

    def resume(self) -> None:
        pass

    suspend = waits = resume

    def timeout_error(self) -> None:
        return None


#: full garbage collections are this many times rarer while the loop runs,
#: when the cap lets at least _MANY_TASKS tests run at once
_FULL_GC_SPACING = 10
_MANY_TASKS = 1000


class CooperativeRun:
    """Everything the cooperative run of one session holds."""

    def __init__(self, session: pytest.Session, settings: Settings,
                 replaying: Callable[[pytest.Item], ContextManager[None]] | None = None,
                 items: list[pytest.Item] | None = None) -> None:
        self.session = session
        self.settings = settings
        # around the replay of an item's log calls (see XdistWorker)
        self._replaying = replaying or (lambda item: contextlib.nullcontext())
        self.manager = hook_manager(session.config)
        self.manager.check()
        # the items known to run: all, or (xdist) those submitted so far
        self.state = SetupState(session.items if items is None else items)
        compat.set_setupstate(session, self.state)
        self.instances = FixtureInstances(session.config)
        pluginmanager = session.config.pluginmanager
        if not pluginmanager.is_registered(protocol):
            pluginmanager.register(protocol, "asyncio_coop.protocol")
            if session.config.getoption("trace", False):
                pluginmanager.register(protocol.Traced(), "asyncio_coop.traced")
        # set when the first cooperative item arrives
        self.loop: asyncio.AbstractEventLoop | None = None
        # monotonic() when the loop last stopped (between an xdist worker's items)
        self._stopped_at: float | None = None
        self._ctrl_c = CtrlC()

    def run_sequential(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Run a non-cooperative item now, outside the loop, as pytest would."""
        self.state.expect([item])
        self.instances.give_item_its_own(item)
        self.state.sequential_item = item
        try:
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        finally:
            self.state.sequential_item = None

    def submit(self, items: list[pytest.Item], *, last: bool, ordered: bool) -> None:
        """Queue cooperative items and let them start; ``last``: no more come."""
        self._ctrl_c.hold()
        if self.loop is None:
            self._open()
        assert self.loop is not None
        self.state.expect(items)
        self._run(self._submit(items, last, ordered))
        if not last:
            self._ctrl_c.release()  # an xdist worker waits for its next item

    async def _submit(self, items: list[pytest.Item], last: bool, ordered: bool) -> None:
        self.scheduler.add(items, ordered=ordered)
        if last:
            self.scheduler.close()
        try:
            await asyncio.sleep(0)  # the admitted tests run up to their first wait
        except asyncio.CancelledError:  # by a test that cancels every task
            survive_cancellation()

    def _open(self) -> None:
        self._ctrl_c.install()  # from here on, Ctrl-C waits for the loop
        self._wakeup_fd = _wakeup_fd(None)
        config = self.session.config
        self._executor = compat.hook_executor(config.pluginmanager, sorted(_LOG_HOOKS), _hold_back_logs)
        self._routing = OutputRouting(config)
        self._held = HeldExceptions(config, self._routing)
        self._rerun_delay = RerunDelay()
        self._dumps = TracebackDumps()
        self.scheduler = Scheduler(
            self.session, self.settings, self.manager, self.instances, self._executor.original, self._routing,
            self._replaying,
        )
        loop, failure = self.manager.call(self.manager.pm.hook.make_event_loop, settings=self.settings)
        if failure is not None or not isinstance(loop, asyncio.AbstractEventLoop):
            self.scheduler.session_failure = failure or HookFailure(
                f"make_event_loop returned {loop!r}, not an event loop"
            )
            loop = asyncio.new_event_loop()
        self.loop = loop
        # Thousands of suspended tests are thousands of live objects that each
        # full collection walks; young garbage is still collected as often.
        # Under a smaller cap the live heap is small, and finished tests'
        # cyclic garbage (a failure's traceback) is collected as usual.
        self._gc_threshold = gc.get_threshold()
        if self.settings.max_tasks >= _MANY_TASKS:
            young, middle, old = self._gc_threshold
            gc.set_threshold(young, middle, old * _FULL_GC_SPACING)
        loop.set_task_factory(task_factory(loop.get_task_factory()))
        self._undo_loop_calls = loopcalls.install(loop)
        self._orphans = descriptors.Orphans(loop)
        self.scheduler.forget_orphans_soon = self._orphans.forget_soon
        _active["scheduler"] = self.scheduler
        # pytest-randomly reseeds the random module at each phase of each test
        isolation.begin(own_random=config.pluginmanager.hasplugin("randomly")
                        and bool(config.getoption("randomly_reset_seed", True)), context_owner=_context_globals)
        self._routing.start()
        self._held.start()
        self._rerun_delay.start()
        self.scheduler.watchdog.start()
        self.scheduler.deadlines.start(loop)
        self._dumps.start(self.scheduler.deadlines)
        self._ctrl_c.attach(loop, self.scheduler)
        self._main = loop.create_task(self.scheduler.run())

    def _run(self, awaitable: Any) -> None:
        loop = self.loop
        assert loop is not None
        if self._stopped_at is not None:
            # Before the deadlines that came due meanwhile are handled: they move on.
            self.scheduler.postpone(monotonic() - self._stopped_at)
        self.scheduler.place_lone_test()
        try:
            loop.run_until_complete(awaitable)
        except BaseException as exc:  # Ctrl-C or SystemExit out of a test's task
            self.scheduler.interrupt(exc)
        finally:
            self._stopped_at = monotonic()
            isolation.evict()  # pytest's code runs next

    def finish(self) -> None:
        """Run what is queued to the end, tear down what is left, close the loop."""
        if self.loop is None:
            return
        loop = self.loop
        self._ctrl_c.hold()
        try:
            self.scheduler.close()
            while not self._main.done():
                # After an interruption the others are cancelled; their
                # teardowns run before it propagates.
                self._run(self._main)
            if self.state.stack:
                # A test's protocol was cut short (Ctrl-C inside it): what it set
                # up is torn down here, on the loop, where async teardown can run.
                loop.run_until_complete(self._teardown_rest())
            stats = self.scheduler.stats
            self.session.config.stash[SUMMARY] = (int(stats[0]), max(0.0, stats[2] - stats[1]), stats[3])
            self.session.config.stash[BLOCKS] = self.scheduler.blocked_lines()
            self.scheduler.durations.save()
            if self.scheduler.fatal is not None:
                raise self.scheduler.fatal
        finally:
            self.scheduler.watchdog.stop()
            self._dumps.stop()
            self.scheduler.deadlines.close()
            self._rerun_delay.stop()
            self._held.stop()
            self._routing.stop()
            _active.clear()
            self._executor.restore()
            try:
                _cancel_the_rest(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                try:
                    loop.close()
                except Exception as exc:  # a test left the loop patched (its signal handling, say)
                    # Signals must not go on waking the unclosed loop's
                    # socket, which closes when the loop is collected.
                    _wakeup_fd(self._wakeup_fd)
                    self.session.config.issue_config_time_warning(
                        pytest.PytestWarning(f"closing the cooperative tests' event loop raised {exc!r}; "
                                             "did a test leave the loop patched?"), stacklevel=2)
                self._undo_loop_calls()
                self._orphans.undo()
                put_back_current_loop()  # the tests' protocols had the loop as the current one
                drop_idle_greenlets()
                isolation.end()
                gc.set_threshold(*self._gc_threshold)
                self.loop = None
                self._ctrl_c.restore()
        if self._ctrl_c.received is not None:
            raise self._ctrl_c.received  # it came as the run was ending

    async def _teardown_rest(self) -> None:
        try:
            await run_in_greenlet(lambda: self.state.teardown_exact(None), _Leftovers())  # type: ignore[arg-type]
        except Exception as exc:
            self.session.config.issue_config_time_warning(
                pytest.PytestWarning(f"tearing down what was left at the end of the run failed: {exc!r}"), stacklevel=2
            )


def _context_globals() -> isolation.TaskGlobals | None:
    """The process-global values of the test whose context is current (none
    in a shared fixture's, as for the callbacks it schedules)."""
    runner = task_owner.get()
    return runner.globals if runner is not None else None


def _wakeup_fd(fd: int | None) -> int | None:
    """Set the file descriptor that signals wake (none given: keep it), and
    return the one before; None outside the main thread."""
    try:
        before = signal.set_wakeup_fd(-1)
        restore = before if fd is None else fd
        if restore != -1:
            signal.set_wakeup_fd(restore, warn_on_full_buffer=False)  # as event loops set it
    except ValueError:  # not the main thread
        return None
    return before


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    """Tasks still pending (a leak, or left by a shared fixture) end before the
    loop closes, so none is destroyed pending."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def run_session(session: pytest.Session, cooperative: list[pytest.Item], settings: Settings) -> bool:
    """Run the session's items: the others first, in pytest's usual way, then
    the cooperative ones together on one loop."""
    run = CooperativeRun(session, settings)
    chosen = set(cooperative)
    sequential = [item for item in session.items if item not in chosen]
    for i, item in enumerate(sequential):
        run.run_sequential(item, sequential[i + 1] if i + 1 < len(sequential) else cooperative[0])
        _raise_if_stopping(session)
    run.submit(cooperative, last=True, ordered=True)
    run.finish()
    _raise_if_stopping(session)
    return True


def _raise_if_stopping(session: pytest.Session) -> None:
    if session.shouldfail:
        raise session.Failed(session.shouldfail)
    if session.shouldstop:
        raise session.Interrupted(session.shouldstop)


class XdistWorker:
    """In a pytest-xdist worker, which hands items over one at a time as the
    controller sends them: cooperative items are queued on the loop and
    reported done at once, so the controller keeps sending; the worker's last
    item, or the end of its loop, runs them all to the end."""

    def __init__(self) -> None:
        self._run: CooperativeRun | None = None
        self._interactor: Any = None
        self._index: dict[pytest.Item, int] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        from .plugin import is_cooperative, settings

        if not session.config.option.collectonly and any(is_cooperative(item) for item in session.items):
            # xdist's WorkerInteractor reports each test as the one it runs now.
            self._interactor = next(
                p for p in session.config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"
            )
            self._index = {item: i for i, item in enumerate(session.items)}
            # Only the items the controller sends will run here: each counts
            # from when it arrives, as xdist's own SetupState sees them.
            self._run = CooperativeRun(session, settings(session.config), self._replaying, items=[])
        try:
            return (yield)
        finally:
            run, self._run = self._run, None
            if run is not None:
                run.finish()

    @contextlib.contextmanager
    def _replaying(self, item: pytest.Item) -> Iterator[None]:
        saved = self._interactor.item_index
        self._interactor.item_index = self._index[item]
        try:
            yield
        finally:
            self._interactor.item_index = saved

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        from .plugin import is_cooperative

        run = self._run
        if run is None or current_runner() is not None or run.state.sequential_item is item:
            return None  # pytest's own protocol, run by us
        if is_cooperative(item):
            run.submit([item], last=nextitem is None, ordered=False)
        else:
            run.run_sequential(item, nextitem)
        return True
