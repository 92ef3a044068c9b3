"""A descriptor number a test closed under the loop stays watchable.

A test that closes a socket behind the back of the transport that watches it
(``with socket.socket() as sock: await loop.create_connection(..., sock=sock)``)
leaves the loop's selector a key for that number. The kernel forgot the
closed descriptor (epoll, kqueue); the key stays. When a later socket gets
the same number, asyncio finds the key with the same events and only swaps
its callbacks: the kernel is never told, and the socket is never polled (a
server that never accepts, a client that never reads). pytest-asyncio closes
the loop after each test, and such keys with it; the cooperative tests share
one loop, so here a key whose callbacks change while its events do not is
registered with the kernel anew.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any, Callable

# the selectors whose kernel keeps what is watched (select() and poll() are
# told everything at each call)
_KERNEL_SIDE = tuple(
    getattr(selectors, name) for name in ("EpollSelector", "KqueueSelector", "DevpollSelector") if hasattr(selectors, name)
)


def rewatch_reused(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Have ``loop``'s selector register a key anew when only its callbacks
    change; return the undo. Other loops (uvloop, a test loop with a selector
    of its own) keep theirs."""
    selector = getattr(loop, "_selector", None)
    if not isinstance(selector, _KERNEL_SIDE):
        return lambda: None
    modify = type(selector).modify

    def modify_anew(fileobj: Any, events: int, data: Any = None) -> Any:
        try:
            key = selector.get_key(fileobj)
        except KeyError:
            return modify(selector, fileobj, events, data)  # its error
        if events != key.events or data == key.data:
            return modify(selector, fileobj, events, data)
        selector.unregister(fileobj)  # a closed descriptor's error is ignored there
        return selector.register(fileobj, events, data)

    selector.modify = modify_anew
    return lambda: vars(selector).pop("modify", None)
