"""The pytest11 entry point: options, ini keys, the marker, and the run loop.

Imported on every pytest start, so the heavy modules load only when a session
actually has cooperative tests.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from typing import TYPE_CHECKING, Callable

import pytest

if TYPE_CHECKING:
    from .manager import Manager
    from .models import Settings

MARKER = "asyncio_cooperative"

_SETTINGS = pytest.StashKey["Settings"]()
_MANAGER = pytest.StashKey["Manager"]()
#: (tests, wall seconds, sum of their durations) of the cooperative phase
SUMMARY = pytest.StashKey["tuple[int, float, float]"]()
#: lines of the "tests that blocked the event loop" summary section
BLOCKS = pytest.StashKey["list[str]"]()


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {text!r}")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return convert


def _argtype(convert: Callable[[str], object]) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = convert.__name__.strip("_")
    return parse


# Each setting: ini key (the option is --the-key-with-dashes, which wins over
# the ini file), how a value is read (a converter, or the accepted words), its
# default, and what it is for.
_OPTIONS: tuple[tuple[str, Callable[[str], object] | tuple[str, ...], str, str], ...] = (
    ("asyncio_cooperative_mode", ("strict", "auto"), "strict",
     "strict: only tests marked asyncio_cooperative are cooperative; auto: every async test is, "
     "and every test using an async fixture"),
    ("max_asyncio_tasks", _whole_number, "100", "how many cooperative tests may run at once"),
    ("asyncio_task_timeout", _seconds, "600", "seconds a cooperative test may run once started"),
    ("asyncio_block_threshold", _seconds, "0.25",
     "seconds a cooperative test's code may hold the event loop before it counts as blocking it"),
    ("asyncio_blocking", ("report", "error"), "report",
     "report tests that block the event loop, or make each block an error of the test"),
    ("asyncio_leaks", ("warn", "error", "ignore"), "warn",
     "what to do about tasks a cooperative test leaves pending (they are cancelled)"),
    ("asyncio_order", ("duration", "collection"), "duration",
     "admit cooperative tests longest first by last run's durations, or in collection order"),
    ("asyncio_sync_tests", ("first", "overlap"), "first",
     "run unmarked sync tests first, or on the loop between cooperative steps"),
)
_READERS = {name: (_choice(*spec) if isinstance(spec, tuple) else spec) for name, spec, _, _ in _OPTIONS}


def _forget_dropped_submodules() -> None:
    """Take off the package the submodules that are no longer in sys.modules.

    pytester's in-process runs take out of sys.modules every module that a run
    imported first: this package's lazily loaded ones, and asyncio itself if
    nothing had imported it before. The package keeps them as attributes, and
    ``from . import defaults`` would find those: the next run would mix stale
    modules, built on the old asyncio, with fresh ones.
    """
    package = sys.modules[__package__]
    for name, value in list(vars(package).items()):
        if isinstance(value, types.ModuleType) and sys.modules.get(value.__name__) is not value:
            delattr(package, name)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # The first of this plugin's hooks in every run, in-process ones included.
    _forget_dropped_submodules()
    group = parser.getgroup("asyncio-coop", "cooperative asyncio tests (pytest-asyncio-coop)")
    for name, spec, default, help_text in _OPTIONS:
        how: dict[str, object] = {"choices": spec} if isinstance(spec, tuple) else {"type": _argtype(spec)}
        group.addoption(
            "--" + name.replace("_", "-"), dest=name, default=None, help=f"{help_text} (default: ini {name}, {default})", **how
        )
        parser.addini(name, help_text, default=default)
    parser.addini(
        "asyncio_loop_factory",
        "dotted path of a callable that makes the event loop, e.g. uvloop.new_event_loop (default: asyncio's)",
        default="",
    )
    if not pluginmanager.has_plugin("asyncio"):
        # pytest-asyncio's keys, which its suites carry, stay valid without it.
        from .automode import PYTEST_ASYNCIO_INI

        for name, default in PYTEST_ASYNCIO_INI.items():
            parser.addini(name, "accepted for pytest-asyncio suites (pytest-asyncio-coop)", default=default)


def _setting(config: pytest.Config, name: str) -> object:
    value = config.getoption(name)
    if value is not None:
        return value
    raw = config.getini(name)
    try:
        return _READERS[name](str(raw).strip())
    except ValueError as e:
        raise pytest.UsageError(f"ini option {name}: {e}") from None


def dotted(path: str) -> object:
    """What the dotted path ``module.name`` names (the ini's ``asyncio_loop_factory``)."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ImportError("not a dotted path, module.name")
    return getattr(importlib.import_module(module), name)


def _loop_factory(path: str) -> str | None:
    """Check that the ini option names something callable; None for asyncio's default."""
    if not path:
        return None
    try:
        factory = dotted(path)
        if not callable(factory):
            raise TypeError(f"{factory!r} is not callable")
    except (ImportError, AttributeError, TypeError) as e:
        raise pytest.UsageError(
            f"ini option asyncio_loop_factory: cannot use {path!r} ({e}); give the dotted path "
            "of a callable that returns a new event loop, e.g. uvloop.new_event_loop"
        ) from None
    return path


_AUTO = pytest.StashKey[bool]()


def auto_mode(config: pytest.Config) -> bool:
    known = config.stash.get(_AUTO, None)
    if known is None:
        known = config.stash[_AUTO] = _setting(config, "asyncio_cooperative_mode") == "auto"
    return known


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the command line is fully parsed: its early namespace has the option.
    mode = getattr(early_config.known_args_namespace, "asyncio_cooperative_mode", None) or str(
        early_config.getini("asyncio_cooperative_mode")
    ).strip()
    if mode == "auto":
        from . import automode

        automode.begin(early_config)


def pytest_configure(config: pytest.Config) -> None:
    if auto_mode(config) and not config.pluginmanager.hasplugin("asyncio"):
        config.addinivalue_line(
            "markers", "asyncio: accepted in asyncio_cooperative_mode = auto; the test is cooperative"
        )
    config.addinivalue_line(
        "markers",
        f"{MARKER}: run this async test concurrently with the other cooperative tests, "
        "on one event loop (pytest-asyncio-coop)",
    )
    config.addinivalue_line(
        "markers",
        "flakey: if this cooperative test fails, run it once more; it passes if the retry does "
        "(pytest-asyncio-coop)",
    )
    from .models import Settings

    config.stash[_SETTINGS] = Settings(
        max_tasks=_max_tasks(config),
        task_timeout=_setting(config, "asyncio_task_timeout"),
        loop_factory=_loop_factory(str(config.getini("asyncio_loop_factory")).strip()),
        block_threshold=_setting(config, "asyncio_block_threshold"),
        blocking=_setting(config, "asyncio_blocking"),
        leaks=_setting(config, "asyncio_leaks"),
        order=_order(config),
        sync_tests=_setting(config, "asyncio_sync_tests"),
    )
    if hasattr(config, "workerinput"):
        # A pytest-xdist worker: its own loop hands items over one at a time.
        from .session import XdistWorker

        config.pluginmanager.register(XdistWorker(), "asyncio_coop.xdist_worker")


# Capture fixtures: a cooperative test gets its own output and log records
# (capture.py); any other test gets pytest's own fixture of the same name.


def _capture_fixture(name: str) -> object:
    def fixture(request: pytest.FixtureRequest):  # noqa: ANN202
        from .capture import caplog_fixture, capture_fixture

        yield from (caplog_fixture(request) if name == "caplog" else capture_fixture(request, name))

    fixture.__doc__ = f"pytest's ``{name}``; in a cooperative test, over that test's own output only."
    return pytest.fixture(name=name)(fixture)


capsys = _capture_fixture("capsys")
capsysbinary = _capture_fixture("capsysbinary")
capteesys = _capture_fixture("capteesys")
capfd = _capture_fixture("capfd")
capfdbinary = _capture_fixture("capfdbinary")
caplog = _capture_fixture("caplog")


def _max_tasks(config: pytest.Config) -> object:
    """``--sw`` steps through the tests one at a time: a failure must mean
    every test before it passed."""
    if config.getoption("stepwise", False) or config.getoption("stepwise_skip", False):
        return 1
    return _setting(config, "max_asyncio_tasks")


def _order(config: pytest.Config) -> object:
    """The admission order; an order the user asked pytest for wins."""
    order = _setting(config, "asyncio_order")
    reordered = any(config.getoption(name, False) for name in ("failedfirst", "newfirst", "stepwise")) or (
        config.pluginmanager.hasplugin("randomly") and config.getoption("randomly_reorganize", False)
    )
    return "collection" if reordered else order


def _plain_sync_test(item: pytest.Item) -> bool:
    import inspect

    return isinstance(item, pytest.Function) and not inspect.iscoroutinefunction(item.obj)


def _check_pytest_asyncio(config: pytest.Config, count: int) -> None:
    from .protocol import pytest_asyncio_mode

    if pytest_asyncio_mode(config) == "auto":
        raise pytest.UsageError(
            f"pytest-asyncio is in asyncio_mode=auto, so it would run the {count} cooperative "
            "test(s) itself, on its own loop. Set asyncio_mode = strict: pytest-asyncio then runs "
            "the @pytest.mark.asyncio tests and pytest-asyncio-coop the asyncio_cooperative ones, "
            "in the same run. Or leave pytest-asyncio out with -p no:asyncio."
        )


def settings(config: pytest.Config) -> Settings:
    """The run's settings, validated at configure time."""
    return config.stash[_SETTINGS]


_COOPERATIVE = pytest.StashKey[bool]()
# the marker's arguments, checked once collection is done
_MARKER_OPTIONS = pytest.StashKey[dict[str, object]]()
# how many asyncio_cooperative marks the item had when it was made and checked
_MARKS_CHECKED = pytest.StashKey[int]()
#: what is wrong with marker arguments added after the item was made (by
#: ``pytest_collection_modifyitems``): the test errors at its setup
LATE_MARKER_PROBLEM = pytest.StashKey[str]()


def is_cooperative(item: pytest.Item) -> bool:
    """Whether the item carries the marker, or, in auto mode, is async or
    uses an async fixture (worked out once per item, once collection is
    done: a conftest's ``pytest_collection_modifyitems`` may add the marker)."""
    known = item.stash.get(_COOPERATIVE, None)
    if known is None:
        known = _settle_cooperative(item, _marks(item))
    return known


def _marks(item: pytest.Item) -> list[pytest.Mark]:
    """The item's asyncio_cooperative marks, closest first; none for what is
    not a test function, or is a unittest case (which runs itself:
    IsolatedAsyncioTestCase makes its own loop)."""
    if not isinstance(item, pytest.Function) or type(item).__name__ == "TestCaseFunction":
        return []
    return list(item.iter_markers(MARKER))


def _settle_cooperative(item: pytest.Item, marks: list[pytest.Mark]) -> bool:
    known = bool(marks)
    if not known and auto_mode(item.config):
        from .automode import is_cooperative as automatic

        known = automatic(item)
    item.stash[_COOPERATIVE] = known
    return known


def runs_elsewhere(item: pytest.Item | None) -> bool:
    """Whether, when it is not cooperative, another plugin runs this test and
    its async fixtures: anyio (its ``anyio_backend`` fixture) or pytest-trio."""
    return item is not None and (
        "anyio_backend" in getattr(item, "fixturenames", ()) or item.get_closest_marker("trio") is not None
    )


def on_another_library(item: pytest.Item) -> bool:
    """Whether the test runs on another event loop library than asyncio:
    pytest-trio's, and anyio's on another backend (a parametrized
    ``anyio_backend``). Auto mode leaves them to their plugins; anyio's tests
    on asyncio are cooperative, as in pytest-asyncio's auto mode."""
    if item.get_closest_marker("trio") is not None:
        return True
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    if isinstance(backend, tuple):  # (name, options)
        backend = backend[0] if backend else None
    return isinstance(backend, str) and backend != "asyncio"


def marker_options(item: pytest.Item) -> dict[str, object]:
    """The keyword arguments of the item's ``asyncio_cooperative`` markers,
    the closest (function, then class, then module) winning; once
    collection is done, as checked then."""
    options = item.stash.get(_MARKER_OPTIONS, None)
    return _options(list(item.iter_markers(MARKER))) if options is None else options


def hook_manager(config: pytest.Config) -> Manager:
    """The session's manager of this plugin's hooks, made when first needed."""
    manager = config.stash.get(_MANAGER, None)
    if manager is None:
        from .manager import Manager

        manager = config.stash[_MANAGER] = Manager()
        manager.collect(config)
    return manager


def _options(marks: list[pytest.Mark]) -> dict[str, object]:
    """The marks' keyword arguments, the closest mark (listed first) winning."""
    options: dict[str, object] = {}
    for mark in reversed(marks):
        options.update(mark.kwargs)
    return options


def _marker_problem(item: pytest.Item, manager: Manager, marks: list[pytest.Mark]) -> str | None:
    """What is wrong with the item's marker arguments, if anything: each must
    be declared by a plugin's ``marker_options`` hook and pass its check."""
    from .manager import FAILURES, HookFailure

    try:
        declared = manager.marker_options(item.path)
    except HookFailure as failure:
        return f"{item.nodeid}: {failure}"
    for mark in marks:
        if mark.args:
            shown = ", ".join(map(repr, mark.args))
            return f"{item.nodeid}: asyncio_cooperative({shown}): the marker takes keyword arguments only"
    for name, value in _options(marks).items():
        shown = f"{item.nodeid}: asyncio_cooperative({name}={value!r})"
        if name not in declared:
            return f"{shown}: unknown argument {name!r}; the marker accepts {', '.join(sorted(declared))}"
        for plugin, check in declared[name]:
            try:
                if check is not None:
                    check(value)
            except (TypeError, ValueError) as e:
                return f"{shown}: {e}"
            except FAILURES as e:
                return f"{shown}: the check of plugin {plugin!r} raised {type(e).__name__}: {e}"
    return None


class _BadMarker(pytest.Collector):
    """Stands in for a test whose marker arguments are bad: collecting it is
    an error naming the test, and the module's other tests still collect."""

    problem = ""

    def collect(self) -> list[pytest.Item]:
        raise pytest.Collector.CollectError(self.problem)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object):  # noqa: ANN201
    """Check the marker's arguments as tests are made."""
    result = yield
    if isinstance(result, list):
        return [_checked(collector, item) for item in result]
    return _checked(collector, result)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Settle which items are cooperative, and their marker arguments, once
    every plugin had its say: a conftest's ``pytest_collection_modifyitems``
    may have added the marker."""
    manager = session.config.stash.get(_MANAGER, None)
    if manager is not None:
        manager.check()
    all_cooperative = True
    checked = []
    for item in session.items:
        marks = _marks(item)  # as they are now, after pytest_collection_modifyitems
        if not item.stash.get(_COOPERATIVE, None) and not _settle_cooperative(item, marks):
            all_cooperative = False
            continue
        if len(marks) != item.stash.get(_MARKS_CHECKED, 0):
            problem = _marker_problem(item, hook_manager(item.config), marks)
            if problem is not None:
                item.stash[LATE_MARKER_PROBLEM] = problem
                item.stash[_MARKER_OPTIONS] = {}
                continue
        item.stash[_MARKER_OPTIONS] = _options(marks)
        checked.append(item)
    if auto_mode(session.config):
        _use_pytest_asyncio_loop_factory(session.config, checked)
    if not all_cooperative and not session.config.pluginmanager.has_plugin("asyncio_coop.async_test_hint"):
        session.config.pluginmanager.register(_AsyncTestHint(), "asyncio_coop.async_test_hint")


def _use_pytest_asyncio_loop_factory(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In auto mode, the loop factory pytest-asyncio's hook selects for the
    cooperative tests makes the session's loop."""
    import attrs

    from .automode import loop_factory, unused_event_loop_policy

    warning = unused_event_loop_policy(items)
    if warning is not None:
        config.issue_config_time_warning(pytest.PytestConfigWarning(warning), stacklevel=2)
    factory, problems = loop_factory(items, settings(config).loop_factory)
    for item, problem in problems.items():
        item.stash[LATE_MARKER_PROBLEM] = problem
    if factory is not None:
        config.stash[_SETTINGS] = attrs.evolve(settings(config), pytest_asyncio_loop_factory=factory)


def _checked(collector: pytest.Collector, node: object) -> object:
    marks = _marks(node) if isinstance(node, pytest.Item) else []
    if not marks:
        return node
    node.stash[_MARKS_CHECKED] = len(marks)
    manager = hook_manager(node.config)
    problem = None if manager.problems else _marker_problem(node, manager, marks)
    if problem is None:
        return node
    bad = _BadMarker.from_parent(collector, name=node.name)
    bad.problem = problem
    return bad


class _AsyncTestHint:
    """Registered when some tests are not cooperative (so that cooperative
    ones do not pay for it)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function):  # noqa: ANN201
        """pytest's failure of an async test nobody ran, with a hint about this plugin."""
        try:
            return (yield)
        except pytest.fail.Exception as e:
            if not e.msg.startswith("async def functions are not natively supported"):
                raise
            raise pytest.fail.Exception(
                f"{e.msg}\npytest-asyncio-coop is installed: mark the test @pytest.mark.{MARKER} to run it "
                "on its event loop, or set asyncio_cooperative_mode = auto to make every async test cooperative.",
                pytrace=False,
            ) from None


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """The first, failed run of a ``flakey`` test that was run again."""
    if report.outcome == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    blocks = terminalreporter.config.stash.get(BLOCKS, None)
    if blocks:
        terminalreporter.write_sep("=", "tests that blocked the event loop")
        for line in blocks:
            terminalreporter.write_line(line)
    summary = terminalreporter.config.stash.get(SUMMARY, None)
    if summary is not None and summary[0]:
        tests, wall, total = summary
        terminalreporter.write_line(
            f"cooperative: {tests} test{'s' if tests != 1 else ''} in {wall:.1f} s; "
            f"their durations add up to {total:.1f} s"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> object | None:
    """Take over the run loop when the session has cooperative tests (in an
    xdist worker, the worker's loop runs, see ``session.XdistWorker``)."""
    if hasattr(session.config, "workerinput") or session.config.option.collectonly or (
        session.testsfailed and not session.config.option.continue_on_collection_errors
    ):
        return None  # pytest's own loop stops with its usual message
    cooperative = [item for item in session.items if is_cooperative(item)]
    if not cooperative:
        return None
    _check_pytest_asyncio(session.config, len(cooperative))
    if auto_mode(session.config):
        from .automode import check

        check(session.config)
    if settings(session.config).sync_tests == "overlap":
        # Plain sync tests join the loop: each runs atomically between steps.
        cooperative = [item for item in session.items if is_cooperative(item) or _plain_sync_test(item)]
    from .session import run_session

    return run_session(session, cooperative, settings(session.config))
