"""A lock for tests that share a resource, creatable at import time.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import AsyncIterator

_numbers = itertools.count(1)


class Lock:
    """Mutual exclusion between cooperative tests.

    It may be created at import time, before any event loop exists; the
    underlying :class:`asyncio.Lock` is made on first use, per loop. Use it
    either way::

        my_lock = Lock()

        async with my_lock():   # as pytest-asyncio-cooperative spells it
            ...
        async with my_lock:
            ...

    Acquiring and releasing it call the ``on_lock_acquire`` and
    ``on_lock_release`` hooks.
    """

    def __init__(self, name: str | None = None) -> None:
        #: shown to the lock hooks
        self.name = name if name is not None else f"lock-{next(_numbers)}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        # how many are waiting in __aenter__
        self._waiting = 0
        # node id of the cooperative test holding it, if one does
        self._holder: str | None = None

    def __repr__(self) -> str:
        return f"<Lock {self.name!r} {'locked' if self.locked() else 'unlocked'}>"

    def _current(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._loop, self._lock = loop, asyncio.Lock()
        return self._lock

    def locked(self) -> bool:
        return self._lock is not None and self._lock.locked()

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        async with self:
            yield

    async def __aenter__(self) -> None:
        lock = self._current()
        self._waiting += 1
        try:
            await lock.acquire()
        finally:
            self._waiting -= 1
        from .scheduler import notify_lock

        self._holder = notify_lock("on_lock_acquire", self)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._holder = None
        from .scheduler import notify_lock

        notify_lock("on_lock_release", self)
