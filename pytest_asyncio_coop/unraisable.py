"""Unraisable exceptions (an exception in ``__del__``, say) and exceptions
in threads, each reported by the test they come from.

pytest queues both from process-wide hooks and, at the end of every phase of
every test, reports all that are queued: with tests interleaved, in whichever
test's phase ends next. While the cooperative phase runs, the hooks are
wrapped: what comes from a test (made in its context; from a thread, while
it runs alone) waits with that test, and pytest, reading its queue at the end
of that test's phase, gets it there (a stand-in for the queue is in place
while a test holds any). What comes from no test stays in
pytest's queue, for the next phase to end, as before.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import collections
import functools
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

import pytest

from . import _pytest_compat as compat
from .bridge import current_runner

if TYPE_CHECKING:
    from .capture import OutputRouting
    from .runner import TaskRunner


class _TestsQueue:
    """Stands in for one of pytest's queues where pytest reads it, while a
    test holds exceptions from it: that test's own first, then those of no
    test. With none held, pytest's own queue is in place."""

    def __init__(self, stash: Any, key: Any, inbox: collections.deque[Any]) -> None:
        self._stash = stash
        self._key = key
        self.inbox = inbox
        # how many tests' exceptions wait in runners
        self._held = 0

    def hold(self, runner: TaskRunner, entry: Any) -> None:
        runner.held_exceptions.append((self, entry))
        self._held += 1
        self._stash[self._key] = self

    def given_back(self) -> None:
        self._held -= 1
        if not self._held and self._stash.get(self._key, None) is self:
            self._stash[self._key] = self.inbox

    def pop(self) -> Any:
        runner = current_runner()
        if runner is not None:
            for index, (queue, entry) in enumerate(runner.held_exceptions):
                if queue is self:
                    del runner.held_exceptions[index]
                    self.given_back()
                    return entry
        return self.inbox.pop()


class HeldExceptions:
    """Wraps pytest's hooks for the cooperative phase."""

    def __init__(self, config: pytest.Config, routing: OutputRouting) -> None:
        self._config = config
        self._routing = routing
        # (stash key, pytest's queue, module, hook name, pytest's hook, wrapper)
        self._installed: list[tuple[Any, collections.deque[Any], Any, str, Any, Any]] = []

    def start(self) -> None:
        stash = self._config.stash
        unraisable_key, thread_key = compat.EXCEPTION_QUEUES
        for key, owner, name in ((unraisable_key, sys, "unraisablehook"), (thread_key, threading, "excepthook")):
            inbox = stash.get(key, None)
            if inbox is None:  # that plugin of pytest's is disabled
                continue
            previous = getattr(owner, name)
            wrapper = functools.partial(self._hold, previous, _TestsQueue(stash, key, inbox))
            setattr(owner, name, wrapper)
            self._installed.append((key, inbox, owner, name, previous, wrapper))

    def stop(self) -> None:
        while self._installed:
            key, inbox, owner, name, previous, wrapper = self._installed.pop()
            self._config.stash[key] = inbox
            if getattr(owner, name) is wrapper:  # not replaced meanwhile
                setattr(owner, name, previous)

    def _hold(self, previous: Callable[[Any], object], queue: _TestsQueue, args: Any) -> None:
        runner = self._routing.writer()
        if runner is None or runner.aio_task is None:  # no test's, or a finished one's
            previous(args)
            return
        inbox = queue.inbox
        before = len(inbox)
        try:
            previous(args)  # pytest's hook: queues what it makes of it
        finally:
            held = []
            while len(inbox) > before:
                try:
                    held.append(inbox.pop())
                except IndexError:  # a thread's: pytest took it meanwhile
                    break
            for entry in reversed(held):
                queue.hold(runner, entry)


def release(runner: TaskRunner) -> None:
    """The test is done: what it caused and pytest did not get yet goes back
    in pytest's queues, for the next phase to end."""
    held = runner.held_exceptions
    while held:
        queue, entry = held.pop(0)
        queue.inbox.append(entry)
        queue.given_back()
