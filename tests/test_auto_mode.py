"""Auto mode: an existing pytest-asyncio suite runs cooperatively with one
setting; and exclusive tests."""

import time

import pytest

SUITE = """
import asyncio
import pytest
import pytest_asyncio

loops = set()

@pytest_asyncio.fixture(loop_scope="module")
async def resource():
    await asyncio.sleep(0.01)
    yield "r"

@pytest.fixture
async def value():
    return 1

@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("n", range(5))
async def test_marked(resource, n):
    loops.add(id(asyncio.get_running_loop()))
    await asyncio.sleep(1)
    assert resource == "r"

@pytest.mark.parametrize("n", range(5))
async def test_unmarked(value, n):
    loops.add(id(asyncio.get_running_loop()))
    await asyncio.sleep(1)

def test_sync_using_async_fixture(value):
    assert value == 1

def test_plain_sync():
    pass

@pytest.fixture(scope="session", autouse=True)
def one_loop():
    yield
    assert len(loops) == 1
    print("ONE LOOP")
"""


@pytest.mark.parametrize(
    "how",
    [["--asyncio-cooperative-mode=auto"], ["-o", "asyncio_cooperative_mode=auto"]],
    ids=["option", "ini"],
)
def test_auto_mode_runs_a_pytest_asyncio_suite_cooperatively(pytester, monkeypatch, how):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")  # pytest-asyncio installed and active
    pytester.makepyfile(SUITE)
    start = time.monotonic()
    result = pytester.runpytest(*how, "-s", "--strict-markers", "-o", "asyncio_default_fixture_loop_scope=function")
    assert time.monotonic() - start < 5  # ten 1 s tests at once
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*ONE LOOP*", "cooperative: 11 tests in *"])


def test_auto_mode_without_pytest_asyncio_accepts_its_ini_keys_and_marker(pytester):
    pytester.makeini(
        "[pytest]\nasyncio_cooperative_mode = auto\nasyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"
    )
    pytester.makepyfile(SUITE.replace("import pytest_asyncio\n", "").replace("@pytest_asyncio.fixture(loop_scope=\"module\")", "@pytest.fixture"))
    result = pytester.runpytest("-s", "--strict-markers", "--strict-config")  # -p no:asyncio from conftest
    result.assert_outcomes(passed=12)


def test_auto_mode_without_pytest_asyncio_provides_its_port_fixtures(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import socket

        async def test_ports(unused_tcp_port, unused_udp_port, unused_tcp_port_factory, unused_udp_port_factory):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", unused_tcp_port))
            with socket.socket(type=socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", unused_udp_port))
            tcp = {unused_tcp_port_factory() for _ in range(20)}
            udp = {unused_udp_port_factory() for _ in range(20)}
            assert len(tcp) == len(udp) == 20
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest("--asyncio-cooperative-mode=auto")  # -p no:asyncio from conftest
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["cooperative: 1 test in *"])


def test_a_sync_test_body_runs_with_no_running_loop(pytester):
    # as under pytest-asyncio: a sync test that uses an async fixture (so is
    # cooperative here), or a plain one overlapping, may call asyncio.run();
    # an async fixture it asks for meanwhile still runs on the loop
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.fixture
        async def value():
            await asyncio.sleep(0.01)
            return 42

        @pytest.fixture
        async def other():
            await asyncio.sleep(0.01)
            return asyncio.get_running_loop()

        def test_uses_asyncio_run(value, request):
            with pytest.raises(RuntimeError, match="no running event loop"):
                asyncio.get_running_loop()
            loop = request.getfixturevalue("other")
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no "There is no current event loop"
                assert asyncio.get_event_loop() is loop  # as pytest-asyncio has it
            async def main():
                await asyncio.sleep(0.01)
                return value
            assert asyncio.run(main()) == 42
            with pytest.raises(RuntimeError, match="no running event loop"):
                asyncio.get_running_loop()

        def test_plain():
            assert asyncio.run(asyncio.sleep(0, "ran")) == "ran"

        async def test_async(value):
            await asyncio.sleep(0.05)
            assert asyncio.get_running_loop() is not None
        """
    )
    pytester.makeconftest(
        """
        from pytest_asyncio_coop.bridge import _current_loop

        def pytest_unconfigure():
            print("CURRENT LOOP AFTER", _current_loop())
        """
    )
    result = pytester.runpytest("--asyncio-cooperative-mode=auto", "--asyncio-sync-tests=overlap", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["cooperative: 3 tests in *", "CURRENT LOOP AFTER None"])


def test_the_stand_in_pytest_asyncio_module():
    from pytest_asyncio_coop.automode import _shim

    shim = _shim()

    @shim.fixture(loop_scope="session", scope="module")
    async def made():
        return 1

    @shim.fixture
    def plain():
        return 2

    assert made.__name__ == "made" and plain.__name__ == "plain"


def test_a_conftest_marking_tests_with_the_stand_ins_is_async_test(pytester):
    # pytest-asyncio's documented way to mark every async test (to run it in
    # the session's loop), with the stand-in's is_async_test
    pytester.makeconftest(
        """
        import pytest
        from pytest_asyncio_coop.automode import _shim

        is_async_test = _shim().is_async_test

        def pytest_collection_modifyitems(items):
            for item in items:
                if is_async_test(item):
                    item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
                    item.add_marker(pytest.mark.marked_async)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_async(request):
            assert request.node.get_closest_marker("marked_async")
            await asyncio.sleep(0)

        def test_sync(request):
            assert not request.node.get_closest_marker("marked_async")
        """
    )
    result = pytester.runpytest("--asyncio-cooperative-mode=auto")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["cooperative: 1 test in *"])


def test_strict_mode_leaves_unmarked_async_tests_alone(pytester):
    pytester.makepyfile(
        """
        async def test_unmarked():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


def test_bad_mode_is_a_usage_error(pytester):
    result = pytester.runpytest("--asyncio-cooperative-mode=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --asyncio-cooperative-mode: invalid choice: 'sometimes'*"])
    pytester.makeini("[pytest]\nasyncio_cooperative_mode = sometimes\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option asyncio_cooperative_mode: expected one of strict, auto, got 'sometimes'*"])


def test_auto_mode_with_one_task_at_a_time_is_sequential(pytester):
    pytester.makepyfile(
        """
        import asyncio

        running = []

        async def test_a():
            running.append("a")
            await asyncio.sleep(0.05)
            assert running == ["a"]
            running.remove("a")

        async def test_b():
            running.append("b")
            await asyncio.sleep(0.05)
            assert running == ["b"]
            running.remove("b")
        """
    )
    pytester.runpytest("--asyncio-cooperative-mode=auto", "--max-asyncio-tasks=1").assert_outcomes(passed=2)


EXCLUSIVE = """
import asyncio
import pytest

running = set()
seen = {}

async def work(name):
    running.add(name)
    seen[name] = set(running)
    await asyncio.sleep(0.1)
    seen[name] |= running
    running.discard(name)

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(3))
async def test_before(n):
    await work(f"before{n}")

@pytest.mark.asyncio_cooperative(exclusive=True)
async def test_alone():
    await work("alone")

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(3))
async def test_after(n):
    await work(f"after{n}")

@pytest.fixture(scope="session", autouse=True)
def check():
    yield
    assert seen["alone"] == {"alone"}, seen
    assert all("alone" not in others for name, others in seen.items() if name != "alone"), seen
    assert len(seen["before0"]) > 1 and len(seen["after0"]) > 1, seen
    print("EXCLUSIVE OK")
"""


def test_an_exclusive_test_runs_alone(pytester):
    pytester.makepyfile(EXCLUSIVE)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*EXCLUSIVE OK*"])


def test_exclusive_from_a_modules_pytestmark(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative(exclusive=True)
        running = []

        @pytest.mark.parametrize("n", range(3))
        async def test_n(n):
            running.append(n)
            await asyncio.sleep(0.05)
            assert running == [n]
            running.remove(n)
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_an_event_loop_policy_fixture_is_a_warning_that_it_is_not_used(pytester):
    # pytest-asyncio ran its tests under the policy this fixture returns; here
    # every test shares one loop, made otherwise: not silently.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        def event_loop_policy():
            return asyncio.DefaultEventLoopPolicy()

        async def test_loop():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest("--asyncio-cooperative-mode=auto")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*PytestConfigWarning: the event_loop_policy fixture (*test_an_event_loop_policy*.py:4) is not used in "
         "asyncio_cooperative_mode = auto*"]
    )


def test_auto_mode_leaves_tests_on_another_loop_library_to_it(pytester):
    # anyio's tests on a trio backend, and pytest-trio's, are not asyncio's:
    # run on this plugin's loop, they would pass or fail on the wrong library.
    # anyio's tests on asyncio are cooperative, sharing async fixtures with
    # the others, as in pytest-asyncio's auto mode.
    pytest.importorskip("anyio")
    pytest.importorskip("trio")
    pytester.makeconftest(
        """
        import pytest

        def pytest_sessionfinish(session):
            import test_libraries
            with open("ran.txt", "w") as f:
                f.write(repr(sorted(test_libraries.RAN.items())))
        """
    )
    pytester.makepyfile(
        test_libraries="""
        import asyncio
        import pytest

        RAN = {}

        @pytest.fixture(scope="module")
        async def loop_id():
            await asyncio.sleep(0)
            return id(asyncio.get_running_loop())

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_anyio(anyio_backend, request):
            if anyio_backend == "trio":
                import trio
                trio.lowlevel.current_task()  # raises outside trio
                RAN["anyio on trio"] = "trio"
            else:
                loop_id = request.getfixturevalue("loop_id")
                RAN["anyio on asyncio"] = loop_id == id(asyncio.get_running_loop())

        async def test_cooperative(loop_id):
            await asyncio.sleep(0)
            RAN["cooperative"] = loop_id == id(asyncio.get_running_loop())
        """
    )
    result = pytester.runpytest("--asyncio-cooperative-mode=auto")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["cooperative: 2 tests in *"])
    ran = (pytester.path / "ran.txt").read_text()
    assert ran == "[('anyio on asyncio', True), ('anyio on trio', 'trio'), ('cooperative', True)]"


def test_anyio_tests_outside_auto_mode_keep_their_async_fixtures_anyios(pytester):
    # In strict mode an anyio test is not cooperative: anyio runs it, and its
    # async fixtures, on its own loop.
    pytest.importorskip("anyio")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.fixture
        async def loop_id():
            await asyncio.sleep(0)
            return id(asyncio.get_running_loop())

        @pytest.mark.anyio
        async def test_anyio(loop_id):
            assert loop_id == id(asyncio.get_running_loop())

        @pytest.mark.asyncio_cooperative
        async def test_cooperative(loop_id):
            assert loop_id == id(asyncio.get_running_loop())
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
