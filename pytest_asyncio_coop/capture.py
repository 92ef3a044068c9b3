"""Per-test output and log capture while tests interleave (hazard 5).

pytest captures one phase of one test at a time: it resumes a global capture,
runs the phase, suspends it and reads what came in. Interleaved tests would
read each other's output. Instead, during the cooperative phase:

* pytest's global capture stays resumed, and each of its ``sys.stdout`` /
  ``sys.stderr`` streams is replaced by a :class:`_Router` that hands every
  write to the test whose code made it (found through a context variable, so
  tasks a test spawns count as that test);
* ``CaptureManager.item_capture`` and ``LoggingPlugin._runtest_for`` are
  replaced for cooperative items by versions that read the test's own
  output and log records into its report sections;
* ``capsys``, ``capsysbinary``, ``capfd``, ``capfdbinary`` and ``caplog`` give
  a cooperative test a fixture over its own output and records.

What cannot be separated: output written at the file-descriptor level
(subprocesses, C extensions) under ``--capture=fd`` reaches one shared file;
it is reported in the section of the test phase that ends next.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Collection, ContextManager, Iterator

import pytest

from . import _pytest_compat as compat
from .bridge import current_runner, current_task_runner

if TYPE_CHECKING:
    from .scheduler import TaskRunner

_STREAMS = ("stdout", "stderr")


class TaskOutput:
    """One test's captured writes."""

    def __init__(self) -> None:
        # set while one of the test's phases runs
        self.capturing = False
        # what the current phase wrote, for its report sections
        self._sections: dict[str, list[str]] = {name: [] for name in _STREAMS}
        # what a capture fixture holds for readouterr(); None without one
        self._fixture: dict[str, list[str]] | None = None
        # whether that fixture lets what it holds through as well (capteesys)
        self.fixture_tee = False

    def write(self, stream: str, text: str) -> None:
        fixture = self._fixture
        if fixture is None:
            self._sections[stream].append(text)
            return
        fixture[stream].append(text)
        if self.fixture_tee and self.capturing:
            self._sections[stream].append(text)

    def take_sections(self) -> tuple[str, str]:
        """What the phase wrote, for its report sections; what a capture
        fixture holds unread shows there too, as in pytest."""
        sections = self._sections
        if self._fixture is not None and not self.fixture_tee:
            for name, parts in self._fixture.items():
                sections[name].extend(parts)
                parts.clear()
        out, err = sections["stdout"], sections["stderr"]
        if not (out or err):
            return "", ""
        sections["stdout"], sections["stderr"] = [], []
        return "".join(out), "".join(err)

    @property
    def fixture_active(self) -> bool:
        return self._fixture is not None

    def start_fixture(self, tee: bool = False) -> None:
        self._fixture = {name: [] for name in _STREAMS}
        self.fixture_tee = tee

    def read_fixture(self) -> tuple[str, str]:
        assert self._fixture is not None
        out, err = ("".join(self._fixture[name]) for name in _STREAMS)
        for parts in self._fixture.values():
            parts.clear()
        return out, err

    def stop_fixture(self) -> None:
        # What the test never read is still shown in its report (a tee
        # fixture's is there already).
        fixture, self._fixture = self._fixture, None
        if not self.fixture_tee:
            for name, parts in (fixture or {}).items():
                self._sections[name].extend(parts)
        self.fixture_tee = False


class _Delegating:
    """A stand-in for a stream: what it does not do itself, the stream does."""

    _underlying: Any

    def write(self, data: Any) -> int:
        raise NotImplementedError

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._underlying, name)


class _Router(_Delegating):
    """Stands in for the global capture's stream: writes made by a running
    cooperative test go to that test (and, for tee-sys, to the terminal too),
    the rest to the global capture."""

    def __init__(self, name: str, underlying: Any, outside: Any, tee: bool, routing: OutputRouting,
                 sections: bool = True, threads_only: bool = False) -> None:
        self._name = name
        self._underlying = underlying
        self._outside = outside
        self._tee = tee
        self._routing = routing
        # False without pytest's capture (-s): only a capture fixture captures
        self._sections = sections
        # True for the stream outside capture: it routes the writes of other
        # threads (a test's executor job) while pytest's capture is suspended
        # (the terminal being written to), and lets the loop's thread through
        self._threads_only = threads_only

    def target(self) -> TaskOutput | None:
        """The output of the test a write now is for, if it captures it."""
        if self._threads_only and threading.get_ident() == self._routing.loop_thread:
            return None
        runner = self._routing.writer()
        output = runner.output if runner is not None else None
        if output is None or not (output.capturing if self._sections else output.fixture_active):
            return None
        return output

    def route(self, output: TaskOutput, text: str) -> None:
        output.write(self._name, text)
        if self._tee or (output.fixture_tee and not self._sections):  # tee-sys; capteesys with -s
            self._outside.write(text)

    def write(self, text: str) -> int:
        output = self.target()
        if output is None:
            return self._underlying.write(text)
        if not isinstance(text, str):  # as the text stream would (click writes b"" to find out)
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.route(output, text)
        return len(text)

    @property
    def buffer(self) -> _BufferRouter:
        return _BufferRouter(self, self._underlying.buffer)


class _BufferRouter(_Delegating):
    """The ``buffer`` of a :class:`_Router`: bytes a test writes there
    (``sys.stdout.buffer.write``) are its output too, decoded as pytest's
    own capture decodes them."""

    def __init__(self, router: _Router, underlying: Any) -> None:
        self._router = router
        self._underlying = underlying

    def write(self, data: Any) -> int:
        output = self._router.target()
        if output is None:
            return self._underlying.write(data)
        data = bytes(data)
        self._router.route(output, data.decode("utf-8", "replace"))
        return len(data)


class OutputRouting:
    """Routes output and log records to the running test, for one cooperative phase."""

    def __init__(self, config: pytest.Config) -> None:
        self._capman = config.pluginmanager.getplugin("capturemanager")
        self._logging = config.pluginmanager.getplugin("logging-plugin")
        self._streams: list[tuple[Any, Any]] = []
        # (name, stream) of sys.stdout/sys.stderr replaced directly, without capture
        self._direct: list[tuple[str, Any]] = []
        # (SysCapture, the stream outside capture) of pytest's global capture
        self._outside: list[tuple[Any, Any]] = []
        self.loop_thread = threading.get_ident()
        # pytest's runner.show_test_item, while this stands in for it
        self._show_test_item: Callable[..., None] | None = None
        # (module, its capturing_output and capturing_logs) of the subtests
        # modules whose functions stand in for them
        self._subtests: list[tuple[Any, Any, Any]] = []
        self._root_handler = _RoutingLogHandler(self)
        # log handler pairs of finished tests, for the next ones
        self._spare_handlers: list[list[logging.Handler]] = []
        #: the cooperative tests running now (the scheduler's)
        self.running: Collection[TaskRunner] = ()

    def writer(self) -> TaskRunner | None:
        """The test that a write or a log record comes from: the test whose
        context it is made in; from outside any test's (a thread of an
        executor, a shared fixture's task), the test running alone, as pytest
        would have it."""
        runner = current_task_runner.get() or current_runner()
        if runner is None:
            try:
                (runner,) = self.running
            except (ValueError, RuntimeError):  # none or several; or, seen from a thread, it just changed
                return None
        return runner

    def start(self) -> None:
        capman = self._capman
        if capman is not None and capman.is_globally_capturing():
            for name, capture in compat.global_sys_captures(capman):
                self._streams.append((capture, capture.tmpfile))
                tee = type(capture.tmpfile).__name__ == "TeeCaptureIO"
                capture.tmpfile = _Router(name, capture.tmpfile, capture._old, tee, self)
                self._outside.append((capture, capture._old))
                capture._old = _Router(name, capture._old, capture._old, False, self, threads_only=True)
            capman.item_capture = self._item_capture
            capman.resume_global_capture()
            self._show_test_item = compat.runner_module.show_test_item
            compat.runner_module.show_test_item = self._show_test_item_uncaptured
        else:
            # -s, or no capture plugin: capsys & co. still get the test's own output.
            for name in _STREAMS:
                stream = getattr(sys, name)
                self._direct.append((name, stream))
                setattr(sys, name, _Router(name, stream, stream, False, self, sections=False))
        for module in compat.subtests_modules():
            self._subtests.append((module, module.capturing_output, module.capturing_logs))
            module.capturing_output = functools.partial(self._subtest_output, module, module.capturing_output)
            module.capturing_logs = functools.partial(self._subtest_logs, module, module.capturing_logs)
        if self._logging is not None:
            self._logging._runtest_for = self._runtest_for
            self._label_live_log(self._logging.log_cli_handler)
            root = logging.getLogger()
            root.addHandler(self._root_handler)
            level = self._logging.log_level
            if level is not None and level < root.level:
                self._root_level: int | None = root.level
                root.setLevel(level)
            else:
                self._root_level = None

    def stop(self) -> None:
        if self._show_test_item is not None:
            compat.runner_module.show_test_item, self._show_test_item = self._show_test_item, None
        for module, capturing_output, capturing_logs in self._subtests:
            module.capturing_output, module.capturing_logs = capturing_output, capturing_logs
        self._subtests.clear()
        for name, stream in self._direct:
            setattr(sys, name, stream)
        self._direct.clear()
        capman = self._capman
        if capman is not None and self._streams:
            capman.suspend_global_capture()
            del capman.item_capture
            for capture, tmpfile in self._streams:
                capture.tmpfile = tmpfile
            self._streams.clear()
            for capture, outside in self._outside:
                capture._old = outside
            self._outside.clear()
        if self._logging is not None:
            del self._logging._runtest_for
            vars(self._logging.log_cli_handler).pop("emit", None)
            root = logging.getLogger()
            root.removeHandler(self._root_handler)
            if self._root_level is not None:
                root.setLevel(self._root_level)

    def _label_live_log(self, live: logging.Handler) -> None:
        """Live logging (``log_cli``): records print as they come, each test's
        under a section that names it and its phase, opened whenever the
        test whose record it is changes."""
        if not isinstance(live, logging.StreamHandler):  # live logging is off
            return
        emit = live.emit

        def labelled_emit(record: logging.LogRecord) -> None:
            runner = self.writer()
            if runner is not None:
                compat.live_log_section(live, f"{runner.phase} ({runner.task.nodeid})")
            emit(record)

        live.emit = labelled_emit  # type: ignore[method-assign]

    def _new_handlers(self) -> list[logging.Handler]:
        handlers = []
        for _ in range(2):
            handler = compat.LogCaptureHandler()
            handler.setFormatter(self._logging.formatter)
            if self._logging.log_level is not None:
                handler.setLevel(self._logging.log_level)
            handlers.append(handler)
        return handlers

    def release(self, runner: TaskRunner) -> None:
        """The test is done: its log handlers serve the next one. (Each handler
        made is listed in ``logging``'s global handler list, which is slow to
        shrink; at most one pair per running test is ever made.)"""
        if runner.log_handlers:
            for handler in runner.log_handlers:
                handler.setLevel(self._logging.log_level if self._logging.log_level is not None else logging.NOTSET)
            self._spare_handlers.append(runner.log_handlers)
            runner.log_handlers = []

    @contextlib.contextmanager
    def _unrouted(self) -> Iterator[None]:
        # pytest reads its capture files only as the types it made them.
        routers = [(capture, capture.tmpfile) for capture, _ in self._streams]
        for capture, tmpfile in self._streams:
            capture.tmpfile = tmpfile
        try:
            yield
        finally:
            for capture, router in routers:
                capture.tmpfile = router

    @contextlib.contextmanager
    def terminal(self) -> Iterator[None]:
        """Let the terminal be written to (pytest's global capture would take it)."""
        capman = self._capman
        if capman is None or not self._streams:
            yield
            return
        capman.suspend_global_capture()
        try:
            yield
        finally:
            capman.resume_global_capture()

    def _show_test_item_uncaptured(self, *args: Any, **kwargs: Any) -> None:
        """``--setup-show`` names a test on the terminal, not in what another
        test's phase captures."""
        assert self._show_test_item is not None
        with self.terminal():
            self._show_test_item(*args, **kwargs)

    @contextlib.contextmanager
    def _subtest_output(self, module: Any, original: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
        """What a cooperative test writes in a ``subtests.test()`` block is
        that subtest's, as pytest captures it (nothing, with a capture
        fixture in use or capture off)."""
        runner = _runner_of(request)
        if runner is None:
            with original(request) as captured:
                yield captured
            return
        captured = module.Captured()
        output = runner.output
        if output.fixture_active or request.config.getoption("capture", None) not in ("fd", "sys"):
            yield captured
            return
        output.start_fixture()
        try:
            yield captured
        finally:
            captured.out, captured.err = output.read_fixture()
            output.stop_fixture()

    @contextlib.contextmanager
    def _subtest_logs(self, module: Any, original: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
        """What a cooperative test logs in a ``subtests.test()`` block is that
        subtest's too (and still the test's, as in pytest)."""
        runner = _runner_of(request)
        if runner is None or self._logging is None:
            with original(request) as captured:
                yield captured
            return
        handler = compat.LogCaptureHandler()
        handler.setFormatter(self._logging.formatter)
        if self._logging.log_level is not None:
            handler.setLevel(self._logging.log_level)
        runner.subtest_log_handlers += (handler,)
        try:
            yield module.CapturedLogs(handler)
        finally:
            runner.subtest_log_handlers = tuple(h for h in runner.subtest_log_handlers if h is not handler)

    def _item_capture(self, when: str, item: pytest.Item) -> ContextManager[None]:
        runner = current_runner()
        if runner is None:
            return type(self._capman).item_capture(self._capman, when, item)  # type: ignore[no-any-return]
        return _PhaseCapture(self, runner, when, item)

    def read_phase(self, runner: TaskRunner, when: str, item: pytest.Item) -> None:
        """At the end of a phase: what it wrote, into the report's sections."""
        out, err = runner.output.take_sections()
        # Output that went around the routers (fd level, or no test's).
        if self._global_written():
            with self._unrouted():
                global_out, global_err = self._capman.read_global_capture()
            out, err = out + global_out, err + global_err
        item.add_report_section(when, "stdout", out)
        item.add_report_section(when, "stderr", err)

    def _global_written(self) -> bool:
        """Whether pytest's global capture holds anything: its files are
        the ones the routers stand in for, each at its end (a file shared
        with the captured descriptor, or a memory buffer), so their position
        says, without the cost of reading them."""
        try:
            for _, tmpfile in self._streams:
                if tmpfile.buffer.tell():
                    return True
            return False
        except (AttributeError, OSError, ValueError):
            return True

    def _runtest_for(self, item: pytest.Item, when: str) -> ContextManager[None]:
        runner = current_runner()
        if runner is None:
            return type(self._logging)._runtest_for(self._logging, item, when)  # type: ignore[no-any-return]
        runner.log_phase = when
        if runner.log_handlers:
            self._attach(runner)
        else:
            item.stash[compat.caplog_handler_key] = None  # made on first need
        return _PhaseLogging(runner, when, item)

    def log_handlers(self, runner: TaskRunner) -> list[logging.Handler]:
        """The test's pair of capture handlers (caplog's, the report's), made
        or taken from a finished test when first needed: a test that logs
        nothing costs none."""
        if not runner.log_handlers:
            runner.log_handlers = self._spare_handlers.pop() if self._spare_handlers else self._new_handlers()
            self._attach(runner)
        return runner.log_handlers

    @staticmethod
    def _attach(runner: TaskRunner) -> None:
        """Empty the handlers for the phase under way, and let caplog find them."""
        caplog_handler, report_handler = runner.log_handlers
        caplog_handler.reset()  # type: ignore[attr-defined]
        report_handler.reset()  # type: ignore[attr-defined]
        item = runner.item
        item.stash[compat.caplog_records_key][runner.log_phase] = caplog_handler.records  # type: ignore[attr-defined]
        item.stash[compat.caplog_handler_key] = caplog_handler


class _PhaseCapture:
    """pytest's ``item_capture`` for one phase of a cooperative test: the
    test's own output. (A class: a generator-based context manager costs
    more, three times per test.)"""

    __slots__ = ("_routing", "_runner", "_when", "_item")

    def __init__(self, routing: OutputRouting, runner: TaskRunner, when: str, item: pytest.Item) -> None:
        self._routing, self._runner, self._when, self._item = routing, runner, when, item

    def __enter__(self) -> None:
        self._runner.output.capturing = True

    def __exit__(self, *exc_info: object) -> None:
        self._runner.output.capturing = False
        self._routing.read_phase(self._runner, self._when, self._item)


class _PhaseLogging:
    """pytest's ``_runtest_for`` for one phase of a cooperative test: its
    own log records."""

    __slots__ = ("_runner", "_when", "_item")

    def __init__(self, runner: TaskRunner, when: str, item: pytest.Item) -> None:
        self._runner, self._when, self._item = runner, when, item

    def __enter__(self) -> None:
        self._runner.logging = True

    def __exit__(self, *exc_info: object) -> None:
        runner = self._runner
        runner.logging = False
        if runner.log_handlers:
            self._item.add_report_section(self._when, "log", runner.log_handlers[1].stream.getvalue().strip())


class _RoutingLogHandler(logging.Handler):
    """On the root logger: hands each record to the handlers of the test that
    logged it, as pytest's capture handlers would have received it."""

    def __init__(self, routing: OutputRouting) -> None:
        super().__init__()
        self._routing = routing

    def handle(self, record: logging.LogRecord) -> bool:
        runner = self._routing.writer()
        if runner is None or not runner.logging:
            return False
        for handlers in (self._routing.log_handlers(runner), runner.subtest_log_handlers):
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does it
        pass


class CaptureFixture:
    """What ``capsys`` and friends give a cooperative test: its own output."""

    def __init__(self, output: TaskOutput, binary: bool, capman: Any) -> None:
        self._output = output
        self._binary = binary
        self._capman = capman

    def readouterr(self) -> Any:
        """Read and clear what the test wrote to stdout and stderr so far."""
        out, err = self._output.read_fixture()
        if self._binary:
            return compat.CaptureResult(out.encode(), err.encode())
        return compat.CaptureResult(out, err)

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Let what is written meanwhile reach the terminal.

        Capture is global: if the test awaits inside, what other tests write
        meanwhile reaches the terminal too.
        """
        if self._capman is None:
            yield
            return
        with self._capman.global_and_fixture_disabled():
            yield


def _runner_of(request: pytest.FixtureRequest) -> TaskRunner | None:
    """The runner of the cooperative test ``request`` is for, if one is
    running it now (else pytest's own fixtures and capture serve)."""
    runner = current_runner()
    return runner if runner is not None and runner.item is request.node else None


def capture_fixture(request: pytest.FixtureRequest, name: str) -> Iterator[Any]:
    """The body of the ``capsys``-like fixtures: the test's own capture when
    it is cooperative, pytest's fixture otherwise."""
    runner = _runner_of(request)
    if runner is None:
        yield request.getfixturevalue(name)
        return
    runner.output.start_fixture(tee=name == "capteesys")
    try:
        capman = request.config.pluginmanager.getplugin("capturemanager")
        yield CaptureFixture(runner.output, name.endswith("binary"), capman)
    finally:
        runner.output.stop_fixture()


class LogCaptureFixture(pytest.LogCaptureFixture):
    """``caplog`` for a cooperative test: levels it sets apply only while the
    test's own code runs."""

    def __init__(self, item: pytest.Item, runner: TaskRunner) -> None:
        super().__init__(item, _ispytest=True)
        self._runner = runner

    def set_level(self, level: int | str, logger: str | None = None) -> None:
        level = logging._checkLevel(level)  # type: ignore[attr-defined]
        self._runner.globals.set_logger_level(logger, level)
        if self._initial_handler_level is None:
            self._initial_handler_level = self.handler.level
        self.handler.setLevel(level)

    @contextlib.contextmanager
    def at_level(self, level: int | str, logger: str | None = None) -> Iterator[None]:
        level = logging._checkLevel(level)  # type: ignore[attr-defined]
        globals_ = self._runner.globals
        before = globals_.logger_levels.get(logger)
        handler_level = self.handler.level
        globals_.set_logger_level(logger, level)
        self.handler.setLevel(level)
        try:
            yield
        finally:
            self.handler.setLevel(handler_level)
            if before is None:
                globals_.restore_logger_level(logger)
            else:
                globals_.set_logger_level(logger, before)


def caplog_fixture(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The body of ``caplog``: per test when it is cooperative."""
    runner = _runner_of(request)
    if runner is None:
        yield request.getfixturevalue("caplog")
        return
    runner.scheduler.routing.log_handlers(runner)
    fixture = LogCaptureFixture(request.node, runner)
    yield fixture
    fixture._finalize()
