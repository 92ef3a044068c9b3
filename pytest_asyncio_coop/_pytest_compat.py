"""The only module that touches pytest's private modules.

Each import says why the public API is not enough. CI runs the suite on the
oldest (8.4) and the newest supported pytest, so a change here shows up there.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

# pytest catches exactly these around setup and teardown (outcome exceptions
# such as skip/fail, plus ordinary exceptions); the SetupState replacement must
# catch the same set.
from _pytest.outcomes import TEST_OUTCOME

# The node that owns a fixture of a given scope for an item, as pytest itself
# computes it for a SubRequest; used to key shared fixture instances.
from _pytest.fixtures import get_scope_node, get_scope_package

# Built to give each cooperative item its own view of its fixture definitions
# (hazard 1); it is a frozen dataclass with no public constructor.
from _pytest.fixtures import FuncFixtureInfo

# get_scope_node takes a Scope; we hold scope names.
from _pytest.scope import Scope

# pytest queues unraisable exceptions and exceptions in threads from
# process-wide hooks, and reports all that are queued at the end of every
# phase of every test; a cooperative test's own go in only as its phase ends.
from _pytest.threadexception import thread_exceptions
from _pytest.unraisableexception import unraisable_exceptions

__all__ = [
    "TEST_OUTCOME",
    "FuncFixtureInfo",
    "Scope",
    "get_scope_node",
    "get_scope_package",
    "getfixtureinfo",
    "set_fixtureinfo",
    "callspec_scope",
    "set_setupstate",
    "hook_executor",
    "fixturemanager",
    "CaptureResult",
    "runner_module",
    "subtests_modules",
    "global_sys_captures",
    "requesting_item",
    "EXCEPTION_QUEUES",
    "live_log_section",
    "LogCaptureHandler",
    "caplog_handler_key",
    "caplog_records_key",
]


def getfixtureinfo(item):
    """The item's FuncFixtureInfo (``Function._fixtureinfo`` is private)."""
    return getattr(item, "_fixtureinfo", None)


def set_fixtureinfo(item, info) -> None:
    """Give ``item`` a new FuncFixtureInfo, before or after its protocol.

    ``TopRequest`` reads the definitions once, when the request is created, so
    the request is dropped: pytest's ``runtestprotocol`` makes a new one when
    the item has none, and drops it again once the item is done.
    """
    item._fixtureinfo = info
    if getattr(item, "_request", None):
        item._request = False
        item.funcargs = {}


def requesting_item(request):
    """The test whose request sets a fixture up (``SubRequest._pyfuncitem``
    is private; a shared fixture's ``request.node`` is its scope's node)."""
    return getattr(request, "_pyfuncitem", None)


def callspec_scope(item, argname: str):
    """The scope name of the item's parametrization of ``argname``, or None.

    ``CallSpec2._arg2scope`` is private; a direct parametrization's scope can
    differ from its fixture definition's.
    """
    callspec = getattr(item, "callspec", None)
    if callspec is None or argname not in callspec.params:
        return None
    return callspec._arg2scope[argname].value


def set_setupstate(session, state) -> None:
    """Replace the session's SetupState (hazard 3); pytest keeps it private."""
    session._setupstate = state


class hook_executor:
    """Interpose on the calls of some hooks of a pluggy PluginManager.

    A ``HookCaller`` runs its implementations through its ``_hookexec``
    attribute, and the per-directory callers pytest makes for conftest hooks
    copy it from the caller they subset when they are made (once per
    ``item.ihook`` access). Used to hold back an item's log hooks until the
    item is done (hazard 6); other hooks are left alone, at no cost.
    """

    def __init__(self, pm, names, wrap) -> None:
        self._saved = [(caller, caller._hookexec) for caller in (getattr(pm.hook, name) for name in names)]
        self.original = self._saved[0][1]
        for caller, hookexec in self._saved:
            caller._hookexec = wrap(hookexec)

    def restore(self) -> None:
        for caller, hookexec in self._saved:
            caller._hookexec = hookexec


def fixturemanager(session):
    """The session's FixtureManager, for dynamic ``getfixturevalue`` lookups."""
    return session._fixturemanager


# Output capture (hazard 5). pytest swaps sys.stdout/sys.stderr for the
# ``tmpfile`` of the SysCapture objects of its global capture (in fd mode, of
# the FDCapture's ``syscapture``) whenever it resumes capturing; putting a
# router there keeps routing through every suspend/resume, including live
# logging's. ``_old`` is the stream outside capture, for tee and disabled().
from _pytest.capture import CaptureResult  # noqa: E402


def global_sys_captures(capman) -> list:
    """The (stream name, SysCapture) pairs of pytest's global stdout/stderr capture."""
    multi = getattr(capman, "_global_capturing", None)
    if multi is None:
        return []
    found = []
    for name, capture in (("stdout", multi.out), ("stderr", multi.err)):
        capture = getattr(capture, "syscapture", capture)
        if capture is not None and hasattr(capture, "tmpfile") and hasattr(capture, "_old"):
            found.append((name, capture))
    return found


# --setup-show: pytest's protocol names each test between its setup and call
# with runner.show_test_item, straight to the terminal, while pytest's capture
# is suspended between the phases; a cooperative test's call runs while
# others' phases capture, so the name is written with the capture suspended
# (``runner.show_test_item`` is looked up as the protocol calls it).
import _pytest.runner as runner_module  # noqa: E402


def subtests_modules() -> list:
    """pytest's subtests module (9.0+) and the pytest-subtests plugin's, those
    loaded. Each ``subtests.test()`` block captures its output with a capture
    fixture of its own, started by hand, and its log records with a handler on
    the root logger, both process-wide: in a cooperative test they would take
    every test's. The module's ``capturing_output`` and ``capturing_logs``
    do it, looked up as the block starts; its ``Captured`` and
    ``CapturedLogs(handler)`` are what they yield."""
    import sys

    return [sys.modules[name] for name in ("_pytest.subtests", "pytest_subtests.plugin") if name in sys.modules]

# Logging (hazard 5). LoggingPlugin sets up its capture handlers per phase in
# the private ``_runtest_for``; the caplog fixture reads the handler and the
# records from the item's stash under these private keys.
from _pytest.logging import LogCaptureHandler, caplog_handler_key, caplog_records_key  # noqa: E402


#: where pytest keeps its queues of unraisable exceptions and of exceptions
#: in threads (absent when that plugin is disabled)
EXCEPTION_QUEUES = (unraisable_exceptions, thread_exceptions)


def live_log_section(handler, title: str) -> None:
    """Have the live-logging handler open a section titled ``live log
    <title>`` before its next record, unless it is in that one: its section
    is private state (``_LiveLoggingStreamHandler._when``); the handler of a
    run without live logging has none."""
    if getattr(handler, "_when", title) != title:
        handler._when = title
        handler._section_name_shown = False
