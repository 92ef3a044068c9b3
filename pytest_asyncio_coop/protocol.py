"""One cooperative item's run: async fixtures and the test coroutine, awaited
through the bridge from inside pytest's own protocol.

Async fixture functions are given a synchronous twin that awaits through the
bridge, so pytest's own ``pytest_fixture_setup`` runs them: caching, errors,
skip locations and teardown all stay pytest's.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
import warnings
from typing import TYPE_CHECKING, Any, Callable, Generator

import pytest

from . import _pytest_compat as compat
from .bridge import await_only, current_runner
from .diagnostics import TaskLeak, TaskLeakWarning, pending_leaks
from .plugin import is_cooperative

if TYPE_CHECKING:
    from .runner import TaskRunner


class OutsideCooperativeTest(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """An async fixture was requested where nothing can await it.

    Not cached as the fixture's result: a cooperative test may still set it up.
    """


def _require_cooperative(func: Callable[..., Any]) -> None:
    if current_runner() is None:
        raise OutsideCooperativeTest(
            f"async fixture {func.__name__!r} was requested outside a cooperative test; "
            "mark the test with @pytest.mark.asyncio_cooperative to use async fixtures",
            pytrace=False,
        )


def _await_coroutine_fixture(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def fixture(*args: Any, **kwargs: Any) -> Any:
        _require_cooperative(func)
        return await_only(func(*args, **kwargs), label=f"fixture {func.__name__!r}")

    return fixture


def _await_asyncgen_fixture(func: Callable[..., Any]) -> Callable[..., Generator[Any, None, None]]:
    @functools.wraps(func)
    def fixture(*args: Any, **kwargs: Any) -> Generator[Any, None, None]:
        _require_cooperative(func)
        generator = func(*args, **kwargs)
        label = f"fixture {func.__name__!r}"
        try:
            value = await_only(generator.__anext__(), owner=generator, label=label)
        except StopAsyncIteration:
            return  # pytest reports "did not yield a value"
        yield value
        try:
            await_only(generator.__anext__(), owner=generator, label=label)
        except StopAsyncIteration:
            return
        _more_than_one_yield(func)

    return fixture


def _more_than_one_yield(func: Callable[..., Any]) -> None:
    # The same message pytest gives for a sync generator fixture.
    lines, lineno = inspect.getsourcelines(func)
    source = "".join("    " + line for line in lines).rstrip()
    pytest.fail(
        f"fixture function has more than one 'yield':\n\n{source}\n{inspect.getsourcefile(func)}:{lineno}",
        pytrace=False,
    )


#: set by ``@pytest_asyncio.fixture`` on the fixture function
PYTEST_ASYNCIO_MARK = "_force_asyncio_fixture"


def pytest_asyncio_runs(func: Callable[..., Any], config: pytest.Config) -> bool:
    """Whether pytest-asyncio (active in this run) sets up this async fixture
    when a test that is not cooperative asks for it."""
    if not config.pluginmanager.hasplugin("asyncio"):
        return False
    target = getattr(func, "__func__", func)
    return getattr(target, PYTEST_ASYNCIO_MARK, False) or pytest_asyncio_mode(config) == "auto"


def pytest_asyncio_mode(config: pytest.Config) -> str | None:
    """pytest-asyncio's ``asyncio_mode``, if pytest-asyncio is active."""
    if not config.pluginmanager.hasplugin("asyncio"):
        return None
    return str(config.getoption("asyncio_mode", None) or config.getini("asyncio_mode"))


def synchronous_twin(func: Callable[..., Any]) -> Callable[..., Any] | None:
    """A synchronous stand-in for an async fixture function, or None if it is sync.

    A bound method stays bound, so pytest can still rebind it to the test's
    class instance.
    """
    target = getattr(func, "__func__", func)
    if inspect.isasyncgenfunction(target):
        twin = _await_asyncgen_fixture(target)
    elif inspect.iscoroutinefunction(target):
        twin = _await_coroutine_fixture(target)
    else:
        return None
    # A @pytest_asyncio.fixture mark would make pytest-asyncio run the twin in
    # its own loop; in a cooperative test this plugin runs it.
    vars(twin).pop(PYTEST_ASYNCIO_MARK, None)
    bound_to = getattr(func, "__self__", None)
    return twin if bound_to is None else types.MethodType(twin, bound_to)


def _await_hypothesis_examples(test: Any) -> bool:
    """Let hypothesis run an async ``@given`` test: each example is awaited
    through the bridge, so examples run on this loop, one after another,
    while other tests keep running. Whether ``test`` is a @given test."""
    handle = getattr(test, "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if inner is None:
        return False
    if not inspect.iscoroutinefunction(inner):
        return True

    @functools.wraps(inner)
    def run_example(*args: Any, **kwargs: Any) -> Any:
        return await_only(inner(*args, **kwargs))

    handle.inner_test = run_example
    return True


class Traced:
    """Registered with ``--trace``, which has pdb run the test function with a
    synchronous wrapper that drops what the function returns: an async
    test's coroutine was never run. Under it, the function pdb runs is one
    that runs the coroutine through the bridge. pdb stops there first, as it
    stops in pytest-asyncio's runner: a breakpoint in the test (``break``),
    or steps through the bridge, lead into it."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        test = pyfuncitem.obj
        if current_runner() is None or not inspect.iscoroutinefunction(test):
            return (yield)

        @functools.wraps(test)
        def run_the_coroutine(*args: Any, **kwargs: Any) -> Any:
            return await_only(test(*args, **kwargs))  # --trace: "break" in the test, then "continue"

        pyfuncitem.obj = run_the_coroutine
        try:
            return (yield)
        finally:
            pyfuncitem.obj = test


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object | None:
    """Call the test function; await it through the bridge when it is async."""
    runner = current_runner()
    if runner is None:
        return None
    funcargs = pyfuncitem.funcargs
    testargs = {arg: funcargs[arg] for arg in compat.getfixtureinfo(pyfuncitem).argnames}
    # Hypothesis keeps the state of the @given test under way per thread (its
    # build context, for target() and note()): @given tests take turns, while
    # the others keep running.
    turns = (
        runner.scheduler.instances.flights.hold(_await_hypothesis_examples)
        if _await_hypothesis_examples(pyfuncitem.obj) else contextlib.nullcontext()
    )
    with turns:
        result = pyfuncitem.obj(**testargs)
    if inspect.isawaitable(result):
        result = await_only(result)
    if runner.timed_out is not None:
        raise runner.timed_out  # it timed out, swallowed every cancellation, and finished
    if result is not None:
        warnings.warn(
            pytest.PytestReturnNotNoneWarning(
                f"Test functions should return None, but {pyfuncitem.nodeid} returned {type(result)!r}.\n"
                "Did you mean to use `assert` instead of `return`?"
            )
        )
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail the setup of a test whose ``on_task_start`` (or another hook deciding
    about it) raised, before any of its fixtures run (inside pytest's own
    wrappers of the setup, which its teardown relies on)."""
    runner = current_runner()
    if runner is None:
        return
    runner.phase = "setup"
    if runner.setup_failures:
        raise runner.setup_failures.pop(0)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    runner = current_runner()
    if runner is not None:
        runner.phase = "call"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Report a hook failure that happened while the test ran at its teardown,
    after the teardown itself."""
    runner = current_runner()
    if runner is not None:
        runner.phase = "teardown"
        runner.scheduler.expect_stop(runner)
    try:
        return (yield)
    finally:
        if runner is not None:
            runner.checkpoint()  # a block in the test's last stretch counts too
            if runner.teardown_failures:
                raise runner.teardown_failures.pop(0)


@pytest.hookimpl(wrapper=True, trylast=True, specname="pytest_runtest_teardown")
def pytest_runtest_teardown_leaks(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Tasks the test left pending, right after its fixtures' teardown, while
    its teardown's output and logs are still captured."""
    try:
        return (yield)
    finally:
        runner = current_runner()
        if runner is not None:
            _report_leaks(runner)


def _limited_runner(item: pytest.Item) -> TaskRunner | None:
    """The runner of ``item``, if it is a cooperative test running now (a
    sync test that overlaps them holds the loop: pytest-timeout's own way
    can interrupt it)."""
    runner = current_runner()
    return runner if runner is not None and runner.item is item and is_cooperative(item) else None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's timeout of a cooperative test is its task's: a signal
    or a timer thread would hit whichever test's code runs (or the loop)."""
    runner = _limited_runner(item)
    if runner is None:
        return None
    runner.limit(settings.timeout, "pytest-timeout")
    return True


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    runner = _limited_runner(item)
    if runner is None:
        return None
    runner.unlimit()
    return True


def _report_leaks(runner: TaskRunner) -> None:
    """Tasks the test left pending, after its teardown: cancelled, and a
    warning of the test (or an error, or nothing: ``--asyncio-leaks``)."""
    leaks = pending_leaks(runner)
    mode = runner.scheduler.settings.leaks
    if leaks is None or mode == "ignore":
        return
    message, made_at = leaks
    if mode == "error":
        runner.teardown_failures.append(TaskLeak(message))
        return
    # where the first task was made, else at the test's function
    code = getattr(getattr(runner.item, "function", None), "__code__", None)
    if made_at is not None:
        filename, lineno = made_at.filename, made_at.lineno or 0
    elif code is not None:
        filename, lineno = code.co_filename, code.co_firstlineno
    else:
        filename, lineno = runner.item.nodeid, 0
    warnings.warn_explicit(TaskLeakWarning(message), TaskLeakWarning, filename, lineno)
