"""The pytest state that assumes one test at a time (DESIGN.md hazards 1-4):
per-item fixture definitions, single-flight shared fixtures, the
reference-counted SetupState, and PYTEST_CURRENT_TEST."""


def test_hazard1_function_scoped_values_never_leak_between_interleaved_tests(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def own(request):
            return request.node.name

        @pytest.fixture(params=["p", "q"])
        def with_param(request):
            return request.param

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("direct", range(4))
        async def test_interleaved(own, with_param, direct, request):
            await asyncio.sleep(0.1 * (direct % 2))
            # Dynamic lookups see this test's own instances too.
            assert request.getfixturevalue("own") == own == request.node.name
            assert request.getfixturevalue("direct") == direct
            assert request.getfixturevalue("with_param") == with_param
            assert request.node.callspec.params["with_param"] == with_param
        """
    )
    pytester.runpytest().assert_outcomes(passed=8)


def test_hazard1_finished_tests_own_fixture_copies_are_not_kept(pytester):
    """Each test's own copy of a function-scoped fixture definition is
    registered with the shared fixture it depends on, by pytest, until that
    one is torn down; once the test is done, the copy is not kept, so memory
    does not grow with the number of tests run. Nor does a finished test keep
    a fixture request, as with pytest."""
    pytester.makepyfile(
        """
        import gc
        import pytest

        @pytest.fixture(scope="session")
        async def shared():
            yield

        @pytest.fixture
        async def own(shared):
            yield

        def live_copies():
            gc.collect()
            return sum(1 for o in gc.get_objects() if isinstance(o, pytest.FixtureDef) and o.argname == "own")

        def requests_of_finished_tests(n):
            # (test 0's is kept by the session fixture it set up, as in pytest)
            requests = [o for o in gc.get_objects() if type(o).__name__ == "TopRequest"]
            return [r for r in requests if 0 < r.node.callspec.params["n"] < n]

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(30))
        async def test_uses(own, n):
            assert live_copies() <= 3  # the definition, this test's copy, maybe one in flight
            assert requests_of_finished_tests(n) == []  # nor are their fixture requests
        """
    )
    # in a subprocess: an in-process run records every hook call's arguments
    pytester.runpytest_subprocess("--max-asyncio-tasks", "1").assert_outcomes(passed=30)


def test_hazard2_shared_fixture_is_set_up_once_for_fifty_concurrent_tests(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        setups = {"session": 0, "module": 0, "sync_module": 0}

        @pytest.fixture(scope="session")
        async def session_resource():
            setups["session"] += 1
            await asyncio.sleep(0.2)
            return object()

        @pytest.fixture(scope="module")
        async def module_resource(session_resource):
            setups["module"] += 1
            await asyncio.sleep(0.2)
            yield (session_resource, object())

        @pytest.fixture(scope="module")
        def sync_module_resource(module_resource):
            setups["sync_module"] += 1
            return module_resource

        seen = set()

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(50))
        async def test_many(sync_module_resource, n):
            seen.add(id(sync_module_resource))
            await asyncio.sleep(0.1)
            assert setups == {"session": 1, "module": 1, "sync_module": 1}
            assert len(seen) == 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=50)


def test_hazard2_shared_setup_error_is_cached_and_reraised(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        attempts = []

        @pytest.fixture(scope="session")
        async def broken():
            attempts.append(1)
            await asyncio.sleep(0.1)
            raise ConnectionError(f"attempt {len(attempts)} failed")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(10))
        async def test_uses_broken(broken, n):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=10)
    raised = [line for line in result.outlines if line.startswith("E ") and "ConnectionError" in line]
    assert raised == ["E       ConnectionError: attempt 1 failed"] * 10
    assert "attempt 2" not in result.stdout.str()


def test_hazard3_shared_fixtures_live_until_their_last_test_is_done(pytester):
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        events = []

        @pytest.fixture(scope="session")
        async def session_fix():
            events.append("setup session")
            yield "session"
            await asyncio.sleep(0.01)
            events.append("teardown session")

        @pytest.fixture(scope="module")
        async def module_fix(request, session_fix):
            name = request.module.__name__
            events.append(f"setup module {name}")
            yield name
            await asyncio.sleep(0.01)
            events.append(f"teardown module {name}")

        def pytest_unconfigure():
            print("EVENTS", events)
        """
    )
    body = """
        import asyncio
        import pytest
        from conftest import events

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_uses(module_fix, session_fix, request, n):
            assert module_fix == request.module.__name__
            assert f"teardown module {module_fix}" not in events
            await asyncio.sleep(0.1 * n)
            assert f"teardown module {module_fix}" not in events
            assert "teardown session" not in events
    """
    pytester.makepyfile(test_mod_a=body, test_mod_b=body)
    for cap in ("1", "100"):
        result = pytester.runpytest_subprocess("--max-asyncio-tasks", cap, "-s")
        result.assert_outcomes(passed=6)
        (line,) = [line for line in result.outlines if line.startswith("EVENTS")]
        events = eval(line[len("EVENTS ") :])
        if cap == "1":
            # upstream #71: one at a time, each module's fixture lives exactly
            # as long as its tests, and the session fixture spans both.
            assert events == [
                "setup session",
                "setup module test_mod_a",
                "teardown module test_mod_a",
                "setup module test_mod_b",
                "teardown module test_mod_b",
                "teardown session",
            ]
        else:
            assert events[0] == "setup session" and events[-1] == "teardown session"
            assert sorted(events[1:3]) == ["setup module test_mod_a", "setup module test_mod_b"]
            assert sorted(events[3:5]) == ["teardown module test_mod_a", "teardown module test_mod_b"]


def test_hazard3_teardown_runs_in_reverse_order_of_setup(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        events = []

        def make(scope):
            @pytest.fixture(scope=scope)
            async def fix():
                events.append(f"setup {scope}")
                yield
                await asyncio.sleep(0.01)
                events.append(f"teardown {scope}")
            return fix

        session_fix = make("session")
        module_fix = make("module")
        class_fix = make("class")
        function_fix = make("function")

        @pytest.mark.asyncio_cooperative
        class TestOrder:
            async def test_it(self, session_fix, module_fix, class_fix, function_fix):
                await asyncio.sleep(0.05)

        @pytest.fixture(scope="session", autouse=True)
        def write_events():
            yield
            with open("events.txt", "w") as f:
                f.write("\\n".join(events))
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert (pytester.path / "events.txt").read_text().splitlines() == [
        "setup session",
        "setup module",
        "setup class",
        "setup function",
        "teardown function",
        "teardown class",
        "teardown module",
        "teardown session",
    ]


def test_hazard3_shared_fixture_outlives_every_teardown_that_uses_it(pytester):
    """A test that finishes while another is still tearing down a fixture
    that depends on a shared one must not tear that shared one down: the
    module outlives its tests' function fixtures, the session its modules'.
    Each slow teardown waits until the other test has finished, so the
    overlap is certain."""
    pytester.makeconftest(
        """
        import asyncio
        import pytest
        from pytest_asyncio_coop import hookimpl

        alive = set()
        finished = set()

        @hookimpl
        def on_task_finish(task):
            finished.add(task.nodeid)

        async def until_finished(nodeid):
            while nodeid not in finished:
                await asyncio.sleep(0.01)

        @pytest.fixture(scope="session")
        async def session_fix():
            alive.add("session")
            yield
            alive.discard("session")

        @pytest.fixture(scope="module")
        async def module_fix(request, session_fix):
            name = request.module.__name__
            alive.add(name)
            yield
            if name == "test_slow":
                await until_finished("test_fast.py::test_quick")
            assert "session" in alive, f"session fixture torn down before {name}'s teardown ended"
            alive.discard(name)

        @pytest.fixture
        async def function_fix(request, module_fix):
            yield
            if request.node.name == "test_slow_teardown":
                await until_finished("test_slow.py::test_other")
            assert "test_slow" in alive, "module fixture torn down before a function fixture's teardown ended"
        """
    )
    pytester.makepyfile(
        test_slow="""
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_slow_teardown(function_fix):
            pass

        async def test_other(function_fix):
            pass
        """,
        test_fast="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_quick(module_fix):
            await asyncio.sleep(0.05)
        """,
    )
    result = pytester.runpytest("--asyncio-task-timeout", "30")
    result.assert_outcomes(passed=3)


def test_hazard3_cooperative_and_plain_tests_share_one_session_instance(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        instances = []

        @pytest.fixture(scope="session")
        def db():
            instances.append(object())
            yield instances[-1]
            instances.append("torn down")

        @pytest.fixture(scope="module")
        def per_module(db):
            return db

        def test_plain(per_module):
            assert instances == [per_module]

        @pytest.mark.asyncio_cooperative
        async def test_coop(per_module):
            await asyncio.sleep(0.05)
            assert instances == [per_module]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_hazard4_current_test_var_names_the_test_whose_code_runs(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import os
        import pytest

        def current():
            return os.environ["PYTEST_CURRENT_TEST"]

        @pytest.fixture
        async def checked(request):
            for _ in range(3):
                await asyncio.sleep(0.01)
                assert current() == f"{request.node.nodeid} (setup)"
            yield
            for _ in range(3):
                await asyncio.sleep(0.01)
                assert current() == f"{request.node.nodeid} (teardown)"

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(10))
        async def test_var(checked, request, n):
            for i in range(5):
                await asyncio.sleep(0.01 * ((n + i) % 3))
                assert current() == f"{request.node.nodeid} (call)"
        """
    )
    pytester.makeconftest(
        """
        import os

        def pytest_sessionfinish():
            assert "PYTEST_CURRENT_TEST" not in os.environ
            print("VAR CLEARED")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*VAR CLEARED*"])
