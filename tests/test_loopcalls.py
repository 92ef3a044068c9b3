"""The loop's scheduling methods, which run the callbacks a test schedules as
the test (loopcalls.py), behave as the loop's own for everything else; what a
test leaves in the loop's selector does not blind the tests after it
(descriptors.py)."""

import pytest


def test_callbacks_keep_their_names_and_the_loop_keeps_refusing_bad_ones(pytester):
    # what asyncio logs of an exception in a test's callback names the
    # callback and where it is defined, and is the test's record
    pytester.makepyfile(
        test_names="""
        import asyncio
        import functools
        import logging
        import pytest

        def boom(x=None):
            raise ValueError("boom")

        class Thing:
            def method(self):
                raise ValueError("method")

        @pytest.mark.asyncio_cooperative
        async def test_names(caplog):
            loop = asyncio.get_running_loop()
            loop.call_soon(functools.partial(boom, 1))
            loop.call_soon(Thing().method)
            loop.call_later(0.01, lambda: boom())
            await asyncio.sleep(0.05)
            messages = [r.getMessage().splitlines()[0] for r in caplog.records if r.name == "asyncio"]
            assert messages[0].startswith("Exception in callback boom(")
            assert messages[0].endswith(f"test_names.py:{boom.__code__.co_firstlineno}")
            assert messages[1] == "Exception in callback Thing.method()"
            assert messages[2].startswith("Exception in callback test_names.<locals>.<lambda>() at ")

        @pytest.mark.asyncio_cooperative
        async def test_running_meanwhile():  # the records above are still test_names'
            await asyncio.sleep(0.2)

        @pytest.mark.asyncio_cooperative
        async def test_debug_mode_refuses_a_coroutine_function():
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            try:
                with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
                    loop.call_soon(test_debug_mode_refuses_a_coroutine_function)
            finally:
                loop.set_debug(False)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_patches_of_the_loop_or_its_class_by_a_test_still_work(pytester):
    # a test that patches the scheduling methods on the loop, then deletes its
    # patch, or patches them on the class, neither breaks the run nor is bypassed
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_instance_patch_deleted():
            loop = asyncio.get_running_loop()
            calls = []
            original = loop.call_soon
            loop.call_soon = lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs)
            loop.call_soon(calls.append, "ran")
            await asyncio.sleep(0.01)
            del loop.call_soon
            assert "ran" in calls

        @pytest.mark.asyncio_cooperative
        async def test_class_patch(monkeypatch):
            loop = asyncio.get_running_loop()
            timers = []
            original = type(loop).call_at
            def spy(self, when, callback, *args, **kwargs):
                timers.append(callback)
                return original(self, when, callback, *args, **kwargs)
            monkeypatch.setattr(type(loop), "call_at", spy)
            await asyncio.sleep(0.01)
            assert timers
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert result.ret == 0


@pytest.mark.parametrize("max_tasks", ["1", "2"])
def test_a_socket_closed_under_its_transport_does_not_haunt_the_next_with_its_number(pytester, max_tasks):
    # The selector keeps its key for the closed descriptor; a later socket
    # that gets the number was never polled (asyncio only swapped the key's
    # callbacks), where pytest-asyncio's loop per test hid it (aiosmtplib).
    pytester.makepyfile(
        """
        import asyncio
        import socket
        import pytest

        SERVERS = []
        CLOSED = []

        class Greeter(asyncio.Protocol):
            def connection_made(self, transport):
                transport.write(b"hello")

        class Client(asyncio.Protocol):
            def __init__(self):
                self.got = asyncio.get_running_loop().create_future()

            def data_received(self, data):
                if not self.got.done():
                    self.got.set_result(data)

        @pytest.mark.asyncio_cooperative
        async def test_closes_its_socket_under_the_transport():
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Greeter, "127.0.0.1", 0)
            SERVERS.append(server)
            with socket.socket() as sock:
                sock.connect(server.sockets[0].getsockname())
                _, client = await loop.create_connection(Client, sock=sock)
                assert await client.got == b"hello"
                CLOSED.append(sock.fileno())

        @pytest.mark.asyncio_cooperative
        async def test_listens_with_the_number_it_closed_itself():
            # before the loop could forget the transport: the number's key
            # is registered with the kernel anew
            await asyncio.sleep(0.5)  # the others' sockets are done with
            loop = asyncio.get_running_loop()
            first = await loop.create_server(Greeter, "127.0.0.1", 0)
            with socket.socket() as sock:
                sock.connect(first.sockets[0].getsockname())
                _, client = await loop.create_connection(Client, sock=sock)
                assert await client.got == b"hello"
                number = sock.fileno()
            server = await loop.create_server(Greeter, "127.0.0.1", 0)
            try:
                assert server.sockets[0].fileno() == number
                _, client = await loop.create_connection(Client, *server.sockets[0].getsockname())
                assert await asyncio.wait_for(client.got, 2) == b"hello"
            finally:
                server.close()
                first.close()

        @pytest.mark.asyncio_cooperative
        async def test_connects_with_the_number():
            await asyncio.sleep(0.1)
            with socket.socket() as sock:
                assert sock.fileno() == CLOSED[0]
                sock.setblocking(False)
                await asyncio.get_running_loop().sock_connect(sock, SERVERS[0].sockets[0].getsockname())

        @pytest.mark.asyncio_cooperative
        async def test_listens_with_the_number():
            await asyncio.sleep(0.2)
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Greeter, "127.0.0.1", 0)
            assert server.sockets[0].fileno() == CLOSED[0]
            _, client = await loop.create_connection(Client, *server.sockets[0].getsockname())
            try:
                assert await asyncio.wait_for(client.got, 2) == b"hello"
            finally:
                server.close()
        """
    )
    pytester.runpytest("-p", "no:randomly", "--max-asyncio-tasks", max_tasks).assert_outcomes(passed=4)


def test_a_loop_with_a_selector_of_its_own_keeps_it(pytester):
    # aiostream's virtual-time test loop puts a Mock in loop._selector
    pytester.makeconftest(
        """
        import asyncio

        class Selector:
            def __init__(self, real):
                self._real = real
                self._selector = None

            def __getattr__(self, name):
                return getattr(self._real, name)

        def make_loop():
            loop = asyncio.new_event_loop()
            loop._selector = Selector(loop._selector)
            return loop
        """
    )
    pytester.makeini("[pytest]\nasyncio_loop_factory = conftest.make_loop\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_runs():
            await asyncio.sleep(0.01)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
