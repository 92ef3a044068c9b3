"""Ctrl-C while the cooperative tests run on the loop.

A KeyboardInterrupt raised wherever the signal happens to land can land in
asyncio's own code (say, inside ``loop.call_soon`` while a future schedules
its callbacks, also when a test sets an ``asyncio.Event``) and drop a
callback: a test then waits forever on a future that is already done, and
the run hangs. So, as ``asyncio.Runner`` does, the first Ctrl-C is handed to
the loop, which stops the run the way the scheduler stops it: running tests
are cancelled at their next await, their teardowns run, and the run ends in
a KeyboardInterrupt that points where the signal came. A second Ctrl-C is
raised at once, as is the watchdog's for a test that never yields.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .scheduler import Scheduler

_HERE = os.path.dirname(os.path.abspath(__file__))


class CtrlC:
    """SIGINT from ``install`` (before the loop is made) until ``restore``
    (after it is closed); main thread only, and only in place of Python's
    default handler. While the run holds it, the first Ctrl-C is handed to the
    loop (``received``); in a pytest-xdist worker waiting for its next test
    (``release``) it is raised at once, as without this plugin."""

    def __init__(self) -> None:
        #: the first Ctrl-C, as the KeyboardInterrupt the run ends in
        self.received: KeyboardInterrupt | None = None
        self._target: tuple[asyncio.AbstractEventLoop, Scheduler] | None = None
        self._holding = True
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread() and (
            signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def attach(self, loop: asyncio.AbstractEventLoop, scheduler: Scheduler) -> None:
        """The loop is made: it takes a Ctrl-C that came meanwhile, and any later."""
        self._target = (loop, scheduler)
        if self.received is not None:
            loop.call_soon(scheduler.interrupt, self.received)

    def hold(self) -> None:
        """The run is set up, runs or is taken down: a Ctrl-C waits for the loop."""
        self._holding = True

    def release(self) -> None:
        """Nothing of the run is under way: a Ctrl-C is raised at once."""
        self._holding = False

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum: int, frame: types.FrameType | None) -> None:
        __tracebackhide__ = True  # pytest shows where the signal came instead
        target = self._target
        if self.received is not None or not self._holding or (target is not None and target[1].watchdog.ended):
            raise KeyboardInterrupt
        self.received = _raised_at(frame)
        if target is not None and not target[0].is_closed():
            target[0].call_soon_threadsafe(target[1].interrupt, self.received)


def _raised_at(frame: types.FrameType | None) -> KeyboardInterrupt:
    """A KeyboardInterrupt whose traceback ends where Ctrl-C came (outside this
    plugin, and in a frame pytest does not hide), the place pytest shows when
    it is raised at the end of the run."""
    while frame is not None and (frame.f_code.co_filename.startswith(_HERE) or _hidden(frame)):
        frame = frame.f_back
    interrupt = KeyboardInterrupt()
    if frame is not None:
        interrupt = interrupt.with_traceback(types.TracebackType(None, frame, frame.f_lasti, frame.f_lineno))
    return interrupt


def _hidden(frame: types.FrameType) -> bool:
    return bool(frame.f_locals.get("__tracebackhide__", frame.f_globals.get("__tracebackhide__", False)))
