"""A lock for tests that share a resource, creatable at import time."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator


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
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

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
        await self._current().acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._lock is not None
        self._lock.release()
