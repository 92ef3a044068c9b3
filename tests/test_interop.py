"""Next to the plugins users already run: pytest-xdist, pytest-rerunfailures,
hypothesis, pytest-asyncio, pytest-cov, pytest-mock, pytest-randomly,
junitxml, uvloop, and SQLAlchemy's asyncio layer (greenlets of its own)."""

import re
import sys
import time
import xml.etree.ElementTree as ET

import pytest

WORKER_RESOURCE = """
import os
import pytest

@pytest.fixture(scope="session")
async def worker_resource():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"setup-{worker}", "a") as f:
        f.write("x")
    yield worker
"""

MANY = """
import asyncio
import os
import pytest

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range({count}))
async def test_sleep(worker_resource, n):
    await asyncio.sleep(1)
    assert worker_resource == os.environ.get("PYTEST_XDIST_WORKER", "main")
"""


@pytest.mark.parametrize(
    "args",
    [["-n", "2"], ["-n", "4"], ["-n", "2", "--dist", "loadscope"], ["-n", "2", "--dist", "loadfile"]],
    ids=lambda args: " ".join(args),
)
def test_xdist_runs_each_test_once_cooperatively_in_each_worker(pytester, args):
    pytester.makeconftest(WORKER_RESOURCE)
    pytester.makepyfile(test_first=MANY.format(count=100), test_second=MANY.format(count=100))
    start = time.monotonic()
    result = pytester.runpytest_subprocess(*args, "-v", "-p", "no:cacheprovider")
    wall = time.monotonic() - start
    result.assert_outcomes(passed=200)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    reported = [m[1] for m in (re.search(r"PASSED (\S+)", line) for line in result.outlines) if m]
    assert len(reported) == 200 and len(set(reported)) == 200
    assert wall < 15, wall
    setups = {path.name: path.read_text() for path in pytester.path.glob("setup-*")}
    assert setups and all(marks == "x" for marks in setups.values()), setups  # once per worker
    assert "setup-main" not in setups


RERUNS = """
import asyncio
import threading
import pytest

loops = set()
attempts = {"option": 0, "marker": 0}

@pytest.mark.asyncio_cooperative
async def test_option_rerun():
    loops.add(id(asyncio.get_running_loop()))
    assert threading.current_thread() is threading.main_thread()
    attempts["option"] += 1
    await asyncio.sleep(0.1)
    assert attempts["option"] == 3

@pytest.mark.asyncio_cooperative
@pytest.mark.flaky(reruns=2)
async def test_marker_rerun():
    loops.add(id(asyncio.get_running_loop()))
    attempts["marker"] += 1
    await asyncio.sleep(0.1)
    assert attempts["marker"] == 2

@pytest.mark.asyncio_cooperative
async def test_zz_same_loop():
    await asyncio.sleep(0.5)
    loops.add(id(asyncio.get_running_loop()))
    assert len(loops) == 1
"""


def test_rerunfailures_reruns_on_the_plugins_loop(pytester):
    pytester.makepyfile(RERUNS)
    result = pytester.runpytest("--reruns", "2", "-v")
    assert result.parseoutcomes() == {"passed": 3, "rerun": 3}
    result.stdout.fnmatch_lines(["*::test_option_rerun RERUN*", "*::test_option_rerun RERUN*", "*::test_option_rerun PASSED*"])
    result.stdout.fnmatch_lines(["*::test_marker_rerun RERUN*", "*::test_marker_rerun PASSED*"])


def test_rerunfailures_max_suite_reruns_caps_the_reruns_of_concurrent_tests(pytester):
    # six tests that each fail their first attempt, running at once: three
    # reruns in all, then the failures stand
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        attempts = {}

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(6))
        async def test_fails_once(n):
            attempts[n] = attempts.get(n, 0) + 1
            await asyncio.sleep(0.02 * (6 - n))
            assert attempts[n] > 1
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--reruns", "2", "--max-suite-reruns", "3")
    assert result.parseoutcomes() == {"passed": 3, "failed": 3, "rerun": 3}
    # the first three to fail were rerun: those with the shortest sleeps
    result.stdout.fnmatch_lines(["FAILED *test_fails_once[[]2[]]*", "FAILED *test_fails_once[[]1[]]*",
                                 "FAILED *test_fails_once[[]0[]]*"])


def test_hypothesis_given_runs_examples_on_the_loop_and_shrinks(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly -p no:asyncio")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from hypothesis import HealthCheck, given, settings, strategies as st

        loops = set()

        @pytest.fixture
        async def offset():
            await asyncio.sleep(0.01)
            return 10

        @pytest.mark.asyncio_cooperative
        @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(x=st.integers(min_value=0, max_value=10_000))
        async def test_property(offset, x):
            loops.add(id(asyncio.get_running_loop()))
            await asyncio.sleep(0)
            assert x + offset < 500

        @pytest.mark.asyncio_cooperative
        async def test_neighbour_runs_meanwhile():
            await asyncio.sleep(0.05)
            loops.add(id(asyncio.get_running_loop()))

        def test_zz_one_loop():
            pass

        @pytest.fixture(scope="session", autouse=True)
        def check():
            yield
            assert len(loops) == 1
            print("ONE LOOP")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=2, failed=1)
    output = result.stdout.str()
    # shrunk to the smallest failing x; hypothesis's wording varies by version
    assert re.search(r"(Falsifying example|Failing test case): test_property\(", output)
    assert re.search(r"^E?\s+x=490,$", output, re.MULTILINE)
    result.stdout.fnmatch_lines(["*ONE LOOP*"])


PYTEST_ASYNCIO = """
import asyncio
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def theirs():
    return "pytest-asyncio"

@pytest.fixture
async def ours():
    await asyncio.sleep(0.01)
    return "coop"

@pytest.mark.asyncio
async def test_by_pytest_asyncio(theirs):
    assert theirs == "pytest-asyncio"

@pytest.mark.asyncio_cooperative
async def test_by_coop(ours, theirs):
    assert (ours, theirs) == ("coop", "pytest-asyncio")
"""


def test_pytest_asyncio_strict_mode_runs_next_to_this_plugin(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    pytester.makepyfile(PYTEST_ASYNCIO)
    result = pytester.runpytest("-o", "asyncio_default_fixture_loop_scope=function", "-v")
    result.assert_outcomes(passed=2)


def test_pytest_asyncio_auto_mode_is_a_clear_error(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    pytester.makepyfile(PYTEST_ASYNCIO)
    result = pytester.runpytest("-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-asyncio is in asyncio_mode=auto*Set asyncio_mode = strict*"])


def test_coverage_of_code_run_only_by_cooperative_tests_is_complete(pytester):
    pytester.mkpydir("covered")
    (pytester.path / "covered" / "lib.py").write_text(
        "import asyncio\n\n\n"
        "async def fetch(n):\n"
        "    await asyncio.sleep(0.01)\n"
        "    if n > 2:\n"
        "        await asyncio.sleep(0)\n"
        "        return 'big'\n"
        "    return 'small'\n\n\n"
        "def double(x):\n"
        "    return x * 2\n"
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from covered import lib

        @pytest.fixture
        async def doubled():
            await asyncio.sleep(0.01)
            yield lib.double(2)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", [1, 5])
        async def test_fetch(n, doubled):
            assert await lib.fetch(n) in ("big", "small")
        """
    )
    result = pytester.runpytest_subprocess("--cov=covered", "--cov-report=term-missing", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["covered?lib.py * 0 * 100%*"])


def test_mocker_with_a_lock_isolating_patches(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import os
        import pytest
        from pytest_asyncio_coop import Lock

        patch_lock = Lock("os.getcwd")

        @pytest.fixture
        async def patched_cwd(mocker, request):
            async with patch_lock:
                mocker.patch("os.getcwd", return_value=request.node.name)
                yield
                mocker.stopall()

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_patched(patched_cwd, request, n):
            await asyncio.sleep(0.02)
            assert os.getcwd() == request.node.name

        @pytest.mark.asyncio_cooperative
        async def test_spy(mocker):
            spy = mocker.spy(asyncio, "sleep")
            await asyncio.sleep(0)
            assert spy.call_count == 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=5)


def test_random_order_keeps_fixture_lifetimes(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio")
    body = """
import asyncio
import pytest
from conftest import events

@pytest.fixture(scope="module")
def per_module(request):
    events.append(("setup", request.module.__name__))
    yield
    events.append(("teardown", request.module.__name__))

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(5))
async def test_n(per_module, request, n):
    assert ("teardown", request.module.__name__) not in events
    await asyncio.sleep(0.01 * n)

def test_plain(per_module, request):
    assert ("teardown", request.module.__name__) not in events
"""
    pytester.makeconftest(
        """
        events = []

        def pytest_unconfigure():
            print("EVENTS", sorted(events))
        """
    )
    pytester.makepyfile(test_one=body, test_two=body)
    for seed in ("1", "2", "3"):
        result = pytester.runpytest_subprocess("-p", "randomly", "-p", "randomly", f"--randomly-seed={seed}", "-s")
        result.assert_outcomes(passed=12)
        (line,) = [line for line in result.outlines if "EVENTS" in line]
        assert line.split("EVENTS ", 1)[1] == str(
            sorted([("setup", "test_one"), ("teardown", "test_one"), ("setup", "test_two"), ("teardown", "test_two")])
        )


def test_junitxml_has_one_testcase_per_test_with_its_time_and_output(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_n(n):
            print(f"output of {n}")
            await asyncio.sleep(0.2 * (n + 1))
        """
    )
    pytester.runpytest("--junitxml=out.xml", "-o", "junit_logging=system-out").assert_outcomes(passed=5)
    cases = list(ET.parse(pytester.path / "out.xml").iter("testcase"))
    assert sorted(case.get("name") for case in cases) == [f"test_n[{n}]" for n in range(5)]
    for case in cases:
        n = int(case.get("name")[-2])
        assert 0.2 * (n + 1) - 0.05 < float(case.get("time")) < 0.2 * (n + 1) + 1.0
        output = case.find("system-out").text
        assert [line for line in output.splitlines() if line.startswith("output of")] == [f"output of {n}"]


def test_uvloop_through_the_loop_factory_option(pytester):
    pytest.importorskip("uvloop")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_on_uvloop():
            assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        """
    )
    pytester.makeini("[pytest]\nasyncio_loop_factory = uvloop.new_event_loop\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_sqlalchemy_asyncio_runs_sync_code_in_its_own_greenlet_and_output_stays_the_tests(pytester):
    # SQLAlchemy's asyncio layer runs sync code (run_sync, the ORM) in a
    # greenlet of its own, nested in the test's: what that code prints or
    # logs is still the test's own, while the tests interleave.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        log = logging.getLogger("app")

        @pytest.fixture
        async def engine():
            engine = create_async_engine("sqlite+aiosqlite:///:memory:")
            yield engine
            await engine.dispose()

        def sync_work(connection, n):
            print(f"sync print {n}")
            log.warning("sync log %s", n)
            return connection.execute(text("select :n"), {"n": n}).scalar()

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_query(engine, n, caplog):
            async with engine.connect() as connection:
                await asyncio.sleep(0.05 * (3 - n))
                value = await connection.run_sync(sync_work, n)
                await asyncio.sleep(0.05)
            assert value == n
            assert [record.getMessage() for record in caplog.records] == [f"sync log {n}"]
            assert n != 2
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    text = result.stdout.str()
    failure = text[text.index("_ test_query[2] _"):text.index("short test summary")]
    assert "Captured stdout call" in failure and "sync print 2" in failure
    assert "sync log 2" in failure
    assert not any(f"sync print {n}" in failure or f"sync log {n}" in failure for n in (0, 1, 3))


def test_xdist_time_the_loop_stands_still_does_not_count_against_a_timeout(pytester):
    # In a worker the loop stops while a plain test runs: 3 s in which the
    # cooperative test, with a 1 s timeout and 0.5 s of waiting, cannot move.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_a_coop():
            await asyncio.sleep(0.5)

        def test_b_plain():
            time.sleep(3)

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_c_coop():
            await asyncio.sleep(0.5)
        """
    )
    result = pytester.runpytest_subprocess("-n", "1", "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_xdist_reports_a_shared_fixtures_teardown_error(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def db():
            yield
            raise RuntimeError("db teardown failed")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("i", range(4))
        async def test_x(db, i):
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 4 and outcomes["errors"] >= 1
    result.stdout.fnmatch_lines(["*RuntimeError: db teardown failed*"])


RETRIED_LAST_USER = """
import asyncio
import pytest

EVENTS = []
ATTEMPTS = []

@pytest.fixture(scope="session")
def db():
    EVENTS.append("db up")
    yield
    EVENTS.append("db down")

@pytest.fixture(scope="module")
async def conn(db):
    EVENTS.append("conn up")
    yield
    EVENTS.append("conn down")

@pytest.mark.asyncio_cooperative
async def test_other(conn):
    await asyncio.sleep(0.01)

@pytest.mark.asyncio_cooperative
@MARK
async def test_flaky(conn):
    ATTEMPTS.append(None)
    await asyncio.sleep(0.2)
    assert len(ATTEMPTS) == PASSES_ON
"""


@pytest.mark.parametrize(
    "mark, passes_on, outcomes",
    [
        ("pytest.mark.flakey", 2, {"passed": 2, "rerun": 1}),
        ("pytest.mark.flakey", 3, {"passed": 1, "failed": 1, "rerun": 1}),
        ("pytest.mark.flaky(reruns=2)", 3, {"passed": 2, "rerun": 2}),
        ("pytest.mark.flaky(reruns=2)", 4, {"passed": 1, "failed": 1, "rerun": 2}),
    ],
)
@pytest.mark.parametrize("cap", ["1", "10"])
def test_a_test_run_again_keeps_the_shared_fixtures_it_is_the_last_to_use(pytester, mark, passes_on, outcomes, cap):
    # Its teardown before another attempt must not tear down what it shares,
    # even as their last user: they are set up once and torn down once.
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            import test_retried
            with open("events.txt", "w") as f:
                f.write(" / ".join(test_retried.EVENTS))
        """
    )
    pytester.makepyfile(test_retried=RETRIED_LAST_USER.replace("MARK", mark).replace("PASSES_ON", str(passes_on)))
    result = pytester.runpytest("-p", "no:randomly", "--max-asyncio-tasks", cap)
    assert result.parseoutcomes() == outcomes
    assert (pytester.path / "events.txt").read_text() == "db up / conn up / conn down / db down"


def test_the_delay_before_a_rerun_lets_the_other_tests_run(pytester):
    # pytest-rerunfailures sleeps between attempts, in the test's protocol:
    # on the loop's thread, that held every other test.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        attempts = []

        @pytest.mark.asyncio_cooperative
        async def test_flaky():
            attempts.append(None)
            assert len(attempts) > 1

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_other(n):
            await asyncio.sleep(0.5)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--reruns", "1", "--reruns-delay", "1", "--asyncio-blocking=error")
    assert result.parseoutcomes() == {"passed": 4, "rerun": 1}
    assert "blocked the event loop" not in result.stdout.str()
    assert sys.modules["pytest_rerunfailures"].time is time  # put back


def test_with_pytest_randomly_each_test_draws_by_the_seed_alone(pytester, monkeypatch):
    # pytest-randomly reseeds the random module for each test: a test's draws
    # after an await must not depend on what the others drew meanwhile.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio")
    pytester.makeconftest(
        """
        DRAWS = {}

        def pytest_sessionfinish(session):
            with open("draws.txt", "w") as f:
                f.write(repr(sorted(DRAWS.items())))
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import random

        import pytest

        from conftest import DRAWS

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_draws(n):
            draws = [random.random()]
            for i in range(3):
                await asyncio.sleep(0.01 * ((n + i) % 3))
                draws.append(random.random())
            DRAWS[n] = draws
        """
    )
    runs = []
    for cap in ("1", "10"):
        pytester.runpytest("-p", "randomly", "--randomly-seed=123", "--max-asyncio-tasks", cap).assert_outcomes(passed=4)
        runs.append((pytester.path / "draws.txt").read_text())
    assert runs[0] == runs[1]


def test_a_timeout_or_a_stop_during_the_delay_before_a_rerun(pytester):
    # The delay waits on the loop: a timeout there is the next attempt's
    # failure, not an error of the run; after -x stops the run, no attempt
    # starts again.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_times_out_in_the_delay():
            await asyncio.sleep(0.1)
            assert False

        @pytest.mark.asyncio_cooperative
        async def test_other():
            await asyncio.sleep(2.5)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--reruns", "2", "--reruns-delay", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "rerun": 2}
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.flaky(reruns=1, reruns_delay=2)
        async def test_flaky():
            with open("attempts.txt", "a") as f:
                f.write("attempt\\n")
            assert False

        @pytest.mark.asyncio_cooperative
        async def test_fails_meanwhile():
            await asyncio.sleep(0.3)
            assert False
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (pytester.path / "attempts.txt").read_text() == "attempt\n"


def test_concurrent_reruns_keep_each_others_function_fixtures(pytester):
    # pytest-rerunfailures puts back, from one dict for all tests, the setup
    # stack entries it took away: other tests' entries, as they were then.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        attempts = {}

        @pytest.fixture
        async def res():
            with open("log.txt", "a") as f:
                f.write("setup\\n")
            yield
            with open("log.txt", "a") as f:
                f.write("teardown\\n")

        @pytest.mark.flaky(reruns=1)
        @pytest.mark.asyncio_cooperative
        async def test_a():
            attempts["a"] = attempts.get("a", 0) + 1
            await asyncio.sleep(0.1 if attempts["a"] == 1 else 0.5)
            assert attempts["a"] > 1

        @pytest.mark.flaky(reruns=1)
        @pytest.mark.asyncio_cooperative
        async def test_c(res):
            attempts["c"] = attempts.get("c", 0) + 1
            await asyncio.sleep(0.2 if attempts["c"] == 1 else 1.0)
            assert attempts["c"] > 1
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    assert result.parseoutcomes() == {"passed": 2, "rerun": 2}
    assert (pytester.path / "log.txt").read_text().split() == ["setup", "teardown", "setup", "teardown"]


def test_a_rerun_does_not_drop_other_tests_teardowns(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        tries = []

        @pytest.fixture
        async def conn(request):
            yield
            assert request.node.name != "test_other", "teardown failure of test_other"

        @pytest.mark.asyncio_cooperative
        @pytest.mark.flaky(reruns=1)
        async def test_flaky():
            tries.append(1)
            await asyncio.sleep(0.2 if len(tries) > 1 else 0.01)
            assert len(tries) > 1

        @pytest.mark.asyncio_cooperative
        async def test_other(conn):
            await asyncio.sleep(0.05)
        """
    )
    result = pytester.runpytest()
    assert result.parseoutcomes() == {"passed": 2, "errors": 1, "rerun": 1}
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_other*", "*teardown failure of test_other*"])


def test_parametrized_hypothesis_test_runs_its_cases_in_turn(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly -p no:asyncio")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from hypothesis import given, settings, strategies as st

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("i", range(4))
        @settings(max_examples=10, deadline=None)
        @given(x=st.integers())
        async def test_param_given(i, x):
            await asyncio.sleep(0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_different_hypothesis_tests_take_turns_and_keep_their_own_target_and_notes(pytester, monkeypatch):
    # Hypothesis keeps the @given test under way per thread: two different
    # ones interleaving would see each other's target() and note().
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly -p no:asyncio")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from hypothesis import given, note, settings, strategies as st, target

        def make(name, fails):
            @pytest.mark.asyncio_cooperative
            @settings(max_examples=20, deadline=None, database=None)
            @given(x=st.integers(0, 100))
            async def test(x):
                note(f"{name}-note x={x}")
                await asyncio.sleep(0.001)
                target(x, label="score")
                assert not fails or x < 50
            return test

        test_a = make("A", fails=False)
        test_b = make("B", fails=False)
        test_c = make("C", fails=True)
        test_d = make("D", fails=True)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    failures = result.stdout.str().split("short test summary info")[0]
    assert "InvalidArgument" not in failures
    for name, other in (("c", "D"), ("d", "C")):
        section = failures.split(f"_ test_{name} _")[1].split("_ test_")[0]
        assert f"{name.upper()}-note x=50" in section
        assert f"{other}-note" not in section


PYTEST_TIMEOUT_SUITE = """
import asyncio
import pytest

@pytest.fixture
async def slow_fixture():
    await asyncio.sleep(1.5)

@pytest.mark.asyncio_cooperative
@pytest.mark.timeout(1, method="{method}")
async def test_marked_hangs():
    await asyncio.sleep(5)

@pytest.mark.asyncio_cooperative
async def test_unmarked_sleeps_2s():
    await asyncio.sleep(2)

@pytest.mark.asyncio_cooperative
async def test_quick_after_slow_fixture(slow_fixture):
    await asyncio.sleep(0.1)
"""


@pytest.mark.parametrize("method", ["signal", "thread"])
def test_pytest_timeouts_of_cooperative_tests_are_their_task_timeouts(pytester, method):
    # A signal or a timer thread would hit whichever test's code runs, or the
    # loop itself (an INTERNALERROR), and each test's timer would undo the
    # others': the timeout of a cooperative test is its task's.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(PYTEST_TIMEOUT_SUITE.format(method=method))
    result = pytester.runpytest("-p", "timeout")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*_ test_marked_hangs _*",
         "E *TaskTimeout: timed out after 1.0 s (pytest-timeout = 1), waiting in the test's call"]
    )


def test_pytest_timeouts_option_and_func_only_apply_to_cooperative_tests(pytester):
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(PYTEST_TIMEOUT_SUITE.format(method="signal"))
    result = pytester.runpytest("-p", "timeout", "--timeout", "1.2")
    result.assert_outcomes(failed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*_ ERROR at setup of test_quick_after_slow_fixture _*",
         "E *TaskTimeout: timed out after 1.2 s (pytest-timeout = 1.2), waiting in fixture 'slow_fixture' at setup",
         "*_ test_unmarked_sleeps_2s _*",
         "E *TaskTimeout: timed out after 1.2 s (pytest-timeout = 1.2), waiting in the test's call"],
    )
    # func_only: the fixture's time does not count.
    result = pytester.runpytest("-p", "timeout", "--timeout", "1.2", "-o", "timeout_func_only=true")
    result.assert_outcomes(passed=1, failed=2)
    # The shorter of the two timeouts holds.
    result = pytester.runpytest("-p", "timeout", "--timeout", "10", "--asyncio-task-timeout", "1.2")
    result.assert_outcomes(failed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*_ test_marked_hangs _*", "E * timed out after 1.0 s (pytest-timeout = 1), *",
         "*_ test_unmarked_sleeps_2s _*", "E * timed out after 1.2 s (asyncio_task_timeout = 1.2), *"]
    )


def test_pytest_timeouts_with_flakey_and_xdist(pytester):
    # After a pytest-timeout timeout, the flakey retry has the test's own
    # timeout again; under xdist, the time the worker's loop stood still
    # moves the test's own deadline too, while pytest-timeout's replaced it.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        test_flakey="""
        import asyncio
        import pytest

        attempts = []

        @pytest.fixture
        async def slow_setup():
            await asyncio.sleep(1.5)

        @pytest.mark.asyncio_cooperative(timeout=5)
        @pytest.mark.flakey
        async def test_retried(slow_setup):
            attempts.append(None)
            await asyncio.sleep(3 if len(attempts) == 1 else 0)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "timeout", "--timeout", "1", "-o", "timeout_func_only=true",
                                "test_flakey.py")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    pytester.makepyfile(
        test_xdist="""
        import asyncio
        import time
        import pytest

        @pytest.fixture
        async def fx():
            yield
            await asyncio.sleep(0.5)

        @pytest.mark.asyncio_cooperative(timeout=3)
        async def test_coop(fx):
            await asyncio.sleep(1)

        @pytest.mark.timeout(10)
        def test_sync_after():
            time.sleep(4)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "timeout", "-n", "1", "--timeout", "2",
                                           "-o", "timeout_func_only=true", "test_xdist.py")
    result.assert_outcomes(passed=2)


def test_unittest_async_test_cases_are_left_to_unittest(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import unittest
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class TestOld(unittest.IsolatedAsyncioTestCase):
            async def test_it(self):
                await asyncio.sleep(0)

        async def test_coop():
            await asyncio.sleep(0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


PYTESTER_SUITE = '''
import sys

import pytest

pytest_plugins = ["pytester"]

INNER = """
import asyncio
import pytest
from pytest_asyncio_coop import Lock

lock = Lock()

@pytest.mark.asyncio_cooperative
async def test_a():
    async with lock:
        await asyncio.sleep(0.01)
"""

# Nothing has imported asyncio yet: the first in-process run imports it, and
# pytester takes it out of sys.modules again afterwards, with this plugin's
# modules.
ASYNCIO_AT_START = "asyncio" in sys.modules


@pytest.mark.parametrize("run", range(3))
def test_in_process_run(pytester, run):
    assert not ASYNCIO_AT_START
    pytester.makepyfile(INNER)
    pytester.runpytest("-p", "no:randomly", "-p", "no:asyncio").assert_outcomes(passed=1)
'''


def test_each_in_process_pytester_run_gets_fresh_modules(pytester):
    # A plugin's own suite, typically: sync tests that run pytest in-process.
    pytester.makepyfile(PYTESTER_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:pytest_mock", "-p", "no:anyio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
