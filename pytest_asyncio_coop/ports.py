"""pytest-asyncio's fixtures for free local ports, for auto mode without
pytest-asyncio installed: ``unused_tcp_port`` and ``unused_udp_port`` (a port
for the test), and their ``_factory`` versions (a session-wide callable that
never gives the same port twice).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import socket
from typing import Callable

import pytest


def _unused_port(kind: socket.SocketKind) -> int:
    """A port on 127.0.0.1 that nothing is bound to now."""
    with socket.socket(type=kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _factory(kind: socket.SocketKind) -> Callable[[], int]:
    given: set[int] = set()

    def unused_port() -> int:
        port = _unused_port(kind)
        while port in given:
            port = _unused_port(kind)
        given.add(port)
        return port

    return unused_port


@pytest.fixture
def unused_tcp_port() -> int:
    return _unused_port(socket.SOCK_STREAM)


@pytest.fixture
def unused_udp_port() -> int:
    return _unused_port(socket.SOCK_DGRAM)


@pytest.fixture(scope="session")
def unused_tcp_port_factory() -> Callable[[], int]:
    return _factory(socket.SOCK_STREAM)


@pytest.fixture(scope="session")
def unused_udp_port_factory() -> Callable[[], int]:
    return _factory(socket.SOCK_DGRAM)
