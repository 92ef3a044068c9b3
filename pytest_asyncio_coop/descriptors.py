"""Transports a test orphaned by closing their sockets do not haunt the loop.

A test that closes a socket behind the back of the transport that watches it
(``with socket.socket() as sock: await loop.create_connection(..., sock=sock)``)
leaves the loop a transport that is not closing, listed for that descriptor
number, and a selector key for the number, which the kernel forgot (epoll,
kqueue). A later socket that gets the number then fails: ``sock_connect()``
says the number "is used by transport", and when asyncio finds the key with
the same events it only swaps the key's callbacks, so the socket is never
polled (a server that never accepts, a client that never reads).
pytest-asyncio closes the loop after each test, and such leftovers with it;
the cooperative tests share one loop. Here, after the tests that end in a
pass of the loop, the transports whose sockets are closed are forgotten
(neither closed nor told: as a closed loop leaves them), with their keys;
and a key whose callbacks change while its events do not is registered with
the kernel anew (the number was taken again before that).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextvars
import selectors
from typing import Any, Callable

# the selectors whose kernel keeps what is watched (select() and poll() are
# told everything at each call)
_KERNEL_SIDE = tuple(
    getattr(selectors, name) for name in ("EpollSelector", "KqueueSelector", "DevpollSelector") if hasattr(selectors, name)
)


class Orphans:
    """Installed on one loop (a selector loop: others keep theirs)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        selector = getattr(loop, "_selector", None)
        # a test loop may have a selector of its own (aiostream's a Mock)
        self._selector = selector if isinstance(selector, selectors.BaseSelector) else None
        self._scheduled = False
        if isinstance(selector, _KERNEL_SIDE):
            selector.modify = self._modify_anew  # type: ignore[method-assign]

    def undo(self) -> None:
        if self._selector is not None:
            vars(self._selector).pop("modify", None)

    def forget_soon(self) -> None:
        """A test ended: forget the orphans at the end of this pass of the
        loop (once however many tests end in it)."""
        if not self._scheduled and getattr(self._loop, "_transports", None):
            self._scheduled = True
            self._loop.call_soon(self._forget, context=contextvars.Context())  # no test's callback

    def _forget(self) -> None:
        self._scheduled = False
        transports = getattr(self._loop, "_transports", {})  # number -> transport, weakly
        for number, transport in list(transports.items()):
            socket = transport.get_extra_info("socket")
            if transport.is_closing() or socket is None or socket.fileno() != -1:
                continue
            del transports[number]
            key = self._selector.get_map().get(number) if self._selector is not None else None
            if key is not None and all(
                handle is None or getattr(handle._callback, "__self__", None) is transport for handle in key.data
            ):
                for handle in key.data:
                    if handle is not None:
                        handle.cancel()
                self._selector.unregister(number)  # the kernel's error for a closed descriptor is ignored there

    def _modify_anew(self, fileobj: Any, events: int, data: Any = None) -> Any:
        selector = self._selector
        assert selector is not None
        modify: Callable[..., Any] = type(selector).modify
        try:
            key = selector.get_key(fileobj)
        except KeyError:
            return modify(selector, fileobj, events, data)  # its error
        if events != key.events or data == key.data:
            return modify(selector, fileobj, events, data)
        selector.unregister(fileobj)
        return selector.register(fileobj, events, data)
