"""The tests' deadlines, kept by a thread on ``time.monotonic()`` rather than
by the loop's timers.

The loop's clock is every test's. A test may patch ``loop.time`` (a
virtual-time helper); two tests that patch it undo each other's patches and
can leave it frozen, and then no loop timer ever goes off again. A loop with a
virtual clock jumps to its next timer, the plugin's included. Kept off the
loop, a deadline still goes off by the real clock, so every test still ends.

The thread sleeps until the earliest deadline, then hands the callback to the
loop (``call_soon_threadsafe``): nothing polls.

Deadlines and durations read the real clocks, held out of reach of tools
that replace the time module's functions, and any module attribute that
holds one, while a test runs (freezegun): a test's frozen time must not
stop or shift the others' deadlines.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from typing import Callable

# the real clocks, in a container: freezegun replaces module attributes that
# are the time module's functions, but looks no further
_REAL_CLOCKS = (time.monotonic, time.perf_counter)


def monotonic() -> float:
    """``time.monotonic()``, whatever a test did to the time module."""
    return _REAL_CLOCKS[0]()


def perf_counter() -> float:
    """``time.perf_counter()``, whatever a test did to the time module."""
    return _REAL_CLOCKS[1]()


# a heap this long is rebuilt without its cancelled deadlines
_COMPACT_AT = 1024
# the longest single wait: threading refuses very long ones (TIMEOUT_MAX), and
# a timeout may be as long as a test likes
_LONGEST_WAIT = 3600.0


class Deadline:
    """One deadline; ``cancel()`` it from the loop's thread."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self.callback = None  # what it would call (a test's runner) is let go now


class Deadlines:
    """The thread and its heap of (when, order, deadline)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._compact_at = _COMPACT_AT
        self._changed = threading.Condition()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Before the tests start: a test that lists the threads before and
        after it does not see this one start."""
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="pytest-asyncio-coop deadlines", daemon=True)
        self._thread.start()

    def add(self, when: float, callback: Callable[[], None]) -> Deadline:
        """Call ``callback`` on the loop at ``time.monotonic()`` ``when``."""
        deadline = Deadline(callback)
        with self._changed:
            if self._closed:
                return deadline  # the run is over: nothing is left to time out
            if len(self._heap) >= self._compact_at:
                self._heap = [entry for entry in self._heap if entry[2].callback is not None]
                heapq.heapify(self._heap)
                self._compact_at = max(_COMPACT_AT, 2 * len(self._heap))
            heapq.heappush(self._heap, (when, next(self._order), deadline))
            if self._heap[0][2] is deadline:
                self._changed.notify()  # earlier than the one the thread waits for
        return deadline

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()
        self._thread = self._loop = None  # no cycle through the thread's target
        self._heap.clear()

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                heap = self._heap
                while heap and heap[0][2].callback is None:
                    heapq.heappop(heap)
                if not heap:
                    self._changed.wait()
                    continue
                wait = heap[0][0] - monotonic()
                if wait > 0:
                    self._changed.wait(min(wait, _LONGEST_WAIT))
                    continue
                deadline = heapq.heappop(heap)[2]
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(_fire, deadline)
                except RuntimeError:  # the loop is closed: nothing is left to time out
                    self._closed = True
                    return


def _fire(deadline: Deadline) -> None:
    """On the loop: the deadline's callback, unless it was cancelled meanwhile."""
    callback, deadline.callback = deadline.callback, None
    if callback is not None:
        callback()
