"""Process-global state that each cooperative test sees as its own.

While a test's code runs, its own values of these are in place; whenever it
yields to the loop they are saved and the outside values come back, unless
it is the only test running (then they stay, as with pytest alone, until
another test's code or pytest's own runs):

* ``PYTEST_CURRENT_TEST`` (hazard 4): names the test whose code is running,
  and is unset in between (but for a test running alone);
* the ``warnings`` module's filters and ``showwarning`` hooks (hazard 7):
  ``warnings.catch_warnings`` in pytest's per-test wrapper, in ``recwarn`` or
  in ``pytest.warns`` stays the test's own, on every Python version;
* logger levels set with ``caplog.set_level`` / ``caplog.at_level``;
* when pytest-randomly reseeds them for each test, the states of the
  ``random`` module and of numpy's global generator: a test's draws then
  depend on the seed alone, not on how the tests interleave.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import logging
import os
import random
import sys
import warnings
from typing import Any, Callable

CURRENT_TEST_VAR = "PYTEST_CURRENT_TEST"

# the values outside any test, captured when the cooperative phase begins
_outside: dict[str, Any] = {}
# whether each test draws from random states of its own
_own_random = False
# the test whose values are in place, if any: while its code runs, and while
# it waits as the only running test (then, as with pytest alone, threads and
# the loop's other callbacks see them too)
_in_place: TaskGlobals | None = None
# whether its code runs now, rather than waits
_code_runs = False


def evict() -> None:
    """Put the outside values back, if a waiting test's are in place (before
    code that is not the cooperative tests' runs)."""
    if _in_place is not None and not _code_runs:
        _in_place.leave()


def run_as(state: TaskGlobals, function: Any, args: tuple[Any, ...]) -> Any:
    """Call ``function`` with the test's values in place: code the test
    handed to the loop (loopcalls.py). It draws from the random states
    outside, unless the test's are in place already: swapping them takes
    longer than most callbacks."""
    if _in_place is state:
        return function(*args)
    outer, outer_runs = _in_place, _code_runs
    if outer is not None:
        outer.leave()  # a waiting test's values; or a test's code runs the loop (nested)
    state.enter(callback=True)
    try:
        return function(*args)
    finally:
        state.leave(callback=True)
        if outer is not None and outer_runs:
            outer.enter()


def _warning_state() -> tuple[Any, ...]:
    return warnings.filters, warnings.showwarning, warnings._showwarnmsg_impl  # type: ignore[attr-defined]


def _differs(state: tuple[Any, ...], other: tuple[Any, ...]) -> bool:
    """Whether two warning states are other objects (a filter list equal to
    the outside one is still the test's own, which it may change later)."""
    return state[0] is not other[0] or state[1] is not other[1] or state[2] is not other[2]


def _set_warning_state(state: tuple[Any, ...]) -> None:
    global _switches
    if state[0] is not warnings.filters:
        warnings.filters = state[0]
        mutated = _module_functions.get("_filters_mutated") or getattr(warnings, "_filters_mutated", None)
        if mutated is not None:
            mutated()  # the registries must not hold back a warning another test's filters let through
            _switches += 1
    warnings.showwarning, warnings._showwarnmsg_impl = state[1], state[2]  # type: ignore[attr-defined]


# The warnings module shows a "default" warning once per place until the
# filters change: each module's ``__warningregistry__`` remembers it. Every
# switch to another test's filters is such a change, so each test keeps its
# own record of what it was shown, and a warning it repeats across awaits is
# shown once, as with pytest alone. While the cooperative phase runs, these
# stand in for the module's functions of the same names.
_module_functions: dict[str, Any] = {}
# how many times the filters were switched between tests
_switches = 0
# the values of the test whose context is current (see begin)
_context_owner: Callable[[], TaskGlobals | None] = lambda: None


def _filters_mutated() -> None:
    """The test whose values are in place changed its filters
    (``simplefilter``, ``catch_warnings``): its warnings show afresh."""
    _module_functions["_filters_mutated"]()
    if _in_place is not None:
        _in_place.shown.clear()


def _showwarnmsg(msg: warnings.WarningMessage) -> None:
    """Show a warning that passed the filters, unless the test in place was
    shown it already and only a switch between tests brought it back. One
    made in a test's context while other values are in place (the test's
    executor job, in its thread; an I/O callback it set) is shown as that
    test shows warnings: recorded for it."""
    owner = _context_owner()
    state = owner if owner is not None and not owner.finished else _in_place
    try:
        shown_before = state is not None and state.shown_before(msg)
    except Exception:  # a filter the warnings module took but this cannot read: shown
        shown_before = False
    if shown_before:
        return
    if state is None or state is _in_place:
        _module_functions["_showwarnmsg"](msg)
        return
    showwarning, show_impl = state.warnings[1], state.warnings[2]
    if showwarning is not warnings._showwarning_orig:  # type: ignore[attr-defined]
        showwarning(msg.message, msg.category, msg.filename, msg.lineno, msg.file, msg.line)
    else:
        show_impl(msg)


def _registry_key(msg: warnings.WarningMessage) -> tuple[Any, ...] | None:
    """What a module's registry keeps of a warning the filters let through,
    as ``warnings.warn_explicit`` stores it (None: it keeps nothing)."""
    text, category, lineno = str(msg.message), msg.category, msg.lineno
    module = None
    for action, message_re, filter_category, module_re, filter_lineno in warnings.filters:
        if module_re is not None and module is None:
            module = _module_name(msg)
        if (
            _matches(message_re, text)
            and issubclass(category, filter_category)
            and _matches(module_re, module)
            and filter_lineno in (0, lineno)
        ):
            break
    else:
        action = warnings.defaultaction
    if action == "default":
        return msg.filename, text, category, lineno
    if action == "module":
        return msg.filename, text, category, 0
    return None  # shown each time ("always"), or once per process ("once")


def _matches(pattern: Any, value: str | None) -> bool:
    """A filter's message or module pattern against a warning's, as the
    warnings module matches them (a plain string must be equal)."""
    if pattern is None:
        return True
    return bool(pattern == value if isinstance(pattern, str) else pattern.match(value))


def _module_name(msg: warnings.WarningMessage) -> str:
    """The module the filters matched a warning against: that of the frame
    it was issued for, else its file's name, as ``warn_explicit`` makes one."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == msg.filename and frame.f_lineno == msg.lineno:
            return str(frame.f_globals.get("__name__", "<string>"))
        frame = frame.f_back
    return msg.filename[:-3] if msg.filename.endswith(".py") else msg.filename


def _random_state() -> tuple[Any, Any]:
    numpy_random = sys.modules.get("numpy.random")
    return random.getstate(), numpy_random.get_state() if numpy_random is not None else None


def _set_random_state(state: tuple[Any, Any]) -> None:
    random.setstate(state[0])
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None and state[1] is not None:
        numpy_random.set_state(state[1])


def begin(own_random: bool = False, context_owner: Callable[[], TaskGlobals | None] = lambda: None) -> None:
    """Record the outside values, at the start of the cooperative phase;
    ``own_random``: give each test random states of its own;
    ``context_owner``: the values of the test whose context is current."""
    global _own_random, _context_owner
    _outside["warnings"] = _warning_state()
    _own_random = own_random
    _context_owner = context_owner
    if not _module_functions and hasattr(warnings, "_filters_mutated") and hasattr(warnings, "_showwarnmsg"):  # < 3.14
        for name, function in (("_filters_mutated", _filters_mutated), ("_showwarnmsg", _showwarnmsg)):
            _module_functions[name] = getattr(warnings, name)
            setattr(warnings, name, function)


def end() -> None:
    """Put the outside values back, at the end of the cooperative phase."""
    global _own_random
    evict()
    _set_warning_state(_outside.pop("warnings"))
    for name, function in _module_functions.items():
        setattr(warnings, name, function)
    _module_functions.clear()
    os.environ.pop(CURRENT_TEST_VAR, None)
    _own_random = False


class TaskGlobals:
    """One test's values of the process-global state above."""

    def __init__(self) -> None:
        self.current_test: str | None = None
        self.warnings = _outside["warnings"]
        # logger name -> level this test set; applied only while it runs
        self.logger_levels: dict[str | None, int] = {}
        # logger name -> level outside any test
        self._outside_levels: dict[str | None, int] = {}
        # the random states as the test's code last left them
        self.random_state: tuple[Any, Any] | None = None
        self.finished = False
        # registry key -> the switch count when a warning was last shown
        # (-1: a warning no registry holds back, shown each time)
        self.shown: dict[tuple[Any, ...], int] = {}

    def enter(self, callback: bool = False) -> None:
        """The test's code is about to run (``callback``: see :func:`run_as`)."""
        global _in_place, _code_runs
        if _in_place is not self:
            if _in_place is not None:
                _in_place.leave()  # it waited with its values in place
            if self.current_test is not None:
                os.environ[CURRENT_TEST_VAR] = self.current_test
            if self.random_state is not None and not callback:
                _set_random_state(self.random_state)
            if _differs(self.warnings, _warning_state()):
                _set_warning_state(self.warnings)
            for name, level in self.logger_levels.items():
                logging.getLogger(name).setLevel(level)
            _in_place = self
        _code_runs = True

    def leave(self, callback: bool = False, stay: bool = False) -> None:
        """The test's code yielded to the loop (or its callback returned).
        ``stay``: it is the only test running, and its values stay in place
        while it waits."""
        global _in_place, _code_runs
        _code_runs = False
        if stay:
            return
        _in_place = None
        self.current_test = os.environ.pop(CURRENT_TEST_VAR, None)
        if _own_random and not callback:
            self.random_state = _random_state()
        self.warnings = _warning_state()
        if _differs(self.warnings, _outside["warnings"]):
            _set_warning_state(_outside["warnings"])
        for name in self.logger_levels:
            logging.getLogger(name).setLevel(self._outside_levels[name])

    def shown_before(self, msg: warnings.WarningMessage) -> bool:
        """Whether this test was shown the warning before, and would not be
        shown it again had no other test run since (see _showwarnmsg)."""
        key = _registry_key(msg)
        if key is None:
            return False
        last = self.shown.get(key)
        if last == -1 or last == _switches:
            # shown again with no switch in between: no registry holds it back
            # (warn_explicit without one)
            self.shown[key] = -1
            return False
        self.shown[key] = _switches
        return last is not None

    def wait_in_place(self) -> None:
        """Its values in place while it waits: it is the only test running."""
        self.enter()
        self.leave(stay=True)

    def set_logger_level(self, name: str | None, level: int) -> None:
        """Give logger ``name`` this level while this test runs (it runs now)."""
        logger = logging.getLogger(name)
        if name not in self._outside_levels:
            self._outside_levels[name] = logger.level
        self.logger_levels[name] = level
        logger.setLevel(level)

    def restore_logger_level(self, name: str | None) -> None:
        if self.logger_levels.pop(name, None) is not None:
            logging.getLogger(name).setLevel(self._outside_levels[name])

    def finish(self) -> None:
        """The test is done: nothing of it stays in place."""
        self.finished = True
        if _in_place is self:
            self.leave()
        for name in list(self.logger_levels):
            self.restore_logger_level(name)
