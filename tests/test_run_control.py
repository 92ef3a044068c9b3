"""Steering a run: -x/--maxfail, Ctrl-C, skip/xfail, selection and the cache,
the flakey marker, and the terminal's lines."""

import re
import signal
import subprocess
import sys
import time

import pytest

STOPPABLE = """
import asyncio
import pathlib
import pytest

def mark(name):
    pathlib.Path(name).touch()

@pytest.fixture(scope="module")
async def shared():
    mark("setup-shared")
    yield
    await asyncio.sleep(0.01)
    mark("teardown-shared")

@pytest.fixture
async def own(request, shared):
    mark(f"setup-{request.node.name}")
    yield
    await asyncio.sleep(0.01)
    mark(f"teardown-{request.node.name}")

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(6))
async def test_n(own, n):
    await asyncio.sleep(0.3 if n == 1 else 3)
    assert n != 1
"""


def test_maxfail_cancels_running_tests_without_counting_them(pytester):
    pytester.makepyfile(STOPPABLE)
    start = time.monotonic()
    result = pytester.runpytest("-x", "--max-asyncio-tasks", "4")
    assert time.monotonic() - start < 2.5
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    made = {path.name for path in pytester.path.iterdir() if path.name.startswith(("setup-", "teardown-"))}
    started = {f"test_n[{n}]" for n in range(4)}
    assert made == {"setup-shared", "teardown-shared"} | {f"{w}-{t}" for t in started for w in ("setup", "teardown")}


SHARED_TEARDOWN_FAILS = """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def shared():
            yield
            raise RuntimeError("shared teardown failed")
"""


def test_maxfail_tears_everything_down_in_the_teardown_of_the_test_that_stops_it(pytester):
    """As pytest does (its #11706): once a test's failure stops the session,
    that test's teardown tears down everything the tests that will not run
    kept set up, so a shared fixture's teardown error is an error of that
    test, not a warning at the end."""
    pytester.makepyfile(
        SHARED_TEARDOWN_FAILS
        + """
        async def test_fails(shared):
            assert False

        async def test_never_runs(shared):
            pass

        async def test_never_runs_either(shared):
            pass
        """
    )
    result = pytester.runpytest("-x", "--max-asyncio-tasks", "1", "--asyncio-order", "collection")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*_ ERROR at teardown of test_fails _*", "E *RuntimeError: shared teardown failed", "*stopping after 2 failures*"]
    )
    assert "warnings summary" not in result.stdout.str()


def test_maxfail_keeps_the_teardown_error_of_a_cancelled_xfail_test(pytester):
    """A test cancelled by -x reports only a teardown error; on an xfail test
    pytest shows that error as xfailed. It is kept like any other: here it
    is the only report of the shared fixture's failing teardown."""
    pytester.makepyfile(
        SHARED_TEARDOWN_FAILS
        + """
        @pytest.mark.xfail
        async def test_cancelled(shared):
            await asyncio.sleep(30)

        async def test_fails():
            await asyncio.sleep(0.1)
            assert False
        """
    )
    pytester.makeconftest(
        """
        def pytest_runtest_logreport(report):
            if hasattr(report, "wasxfail"):
                print("XFAILED", report.nodeid, report.when)
        """
    )
    result = pytester.runpytest("-x", "-s", "--asyncio-order", "collection")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*XFAILED *::test_cancelled teardown", "*stopping after 1 failures*"])


def test_ctrl_c_tears_everything_down_and_reports_keyboard_interrupt(pytester):
    pytester.makepyfile(STOPPABLE)
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", "-m", "pytest", "-p", "no:cacheprovider", "--max-asyncio-tasks", "4"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    for bad in ("Task was destroyed", "was never awaited", "ResourceWarning", "INTERNALERROR"):
        assert bad not in output, output
    made = {path.name for path in pytester.path.iterdir() if path.name.startswith(("setup-", "teardown-"))}
    setups = {name[len("setup-") :] for name in made if name.startswith("setup-")}
    assert setups, output
    assert made == {f"teardown-{name}" for name in setups} | {f"setup-{name}" for name in setups}, output


def test_skip_and_xfail_report_as_in_plain_pytest(pytester):
    body = """
import sys
import pytest

@pytest.mark.skip(reason="not today")
async def test_skip():
    pass

@pytest.mark.skipif(sys.platform != "nonexistent", reason="never here")
async def test_skipif():
    pass

@pytest.mark.skipif(False, reason="runs")
async def test_skipif_false():
    pass

@pytest.mark.xfail(reason="known bug")
async def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed meanwhile")
async def test_xpass():
    pass

@pytest.mark.xfail(strict=True, reason="must fail")
async def test_xpass_strict():
    pass

@pytest.mark.xfail(raises=KeyError)
async def test_xfail_raises_other():
    raise ValueError()

@pytest.mark.xfail(raises=KeyError)
async def test_xfail_raises_right():
    raise KeyError()

async def test_importorskip():
    pytest.importorskip("no_such_module_here")

async def test_skip_inside():
    pytest.skip("decided inside")

async def test_xfail_inside():
    pytest.xfail("decided inside")

async def test_fail_inside():
    pytest.fail("decided inside")
"""
    runs = []
    for coop in (False, True):
        source = body if coop else body.replace("async def", "def")
        if coop:
            source = "import pytest\npytestmark = pytest.mark.asyncio_cooperative\n" + source
        pytester.makepyfile(test_body=source)
        result = pytester.runpytest("-rA")
        statuses = sorted(line for line in result.outlines if re.match(r"^(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR) ", line))
        runs.append((result.parseoutcomes(), [re.sub(r"test_body.py:\d+", "test_body.py", s) for s in statuses]))
    assert runs[0][0] == runs[1][0]
    assert set(runs[0][1]) ^ set(runs[1][1]) == set()
    assert runs[1][0] == {"passed": 1, "failed": 3, "skipped": 4, "xfailed": 3, "xpassed": 1}


def test_collect_only_lists_and_runs_nothing(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_coop():
            raise RuntimeError("must not run")
        """
    )
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*::test_coop", "1 test collected*"])
    assert result.ret == pytest.ExitCode.OK


def test_selection_and_cache_options(pytester):
    pytester.makepyfile(
        """
        import os
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_alpha():
            pass

        @pytest.mark.slow
        async def test_beta():
            pass

        async def test_gamma():
            assert os.environ.get("GAMMA_OK") == "1"

        async def test_delta():
            assert os.environ.get("DELTA_OK") == "1"
        """
    )
    pytester.makeini("[pytest]\nmarkers = slow\n")
    pytester.runpytest("-k", "alpha or beta").assert_outcomes(passed=2, deselected=2)
    pytester.runpytest("-m", "slow").assert_outcomes(passed=1, deselected=3)
    pytester.runpytest().assert_outcomes(passed=2, failed=2)
    last_failed = pytester.runpytest("--lf", "-v")
    outcomes = last_failed.parseoutcomes()
    assert outcomes["failed"] == 2 and "passed" not in outcomes
    first_failed = pytester.runpytest("--ff", "-v", "--max-asyncio-tasks", "1")
    order = [line.split("::")[1].split()[0] for line in first_failed.outlines if "::test_" in line and "%]" in line]
    assert order[:2] == ["test_gamma", "test_delta"]
    stepwise = pytester.runpytest("--sw", "--max-asyncio-tasks", "1")
    stepwise.assert_outcomes(passed=2, failed=1)
    stepwise.stdout.fnmatch_lines(["*Interrupted: Test failed, continuing from this test next run.*"])
    again = pytester.runpytest("--sw", "--max-asyncio-tasks", "1")
    again.assert_outcomes(failed=1, deselected=2)


def test_flakey_retries_once_concurrently(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        attempts = {"recovers": 0, "broken": 0}

        @pytest.mark.asyncio_cooperative
        @pytest.mark.flakey
        async def test_recovers():
            attempts["recovers"] += 1
            await asyncio.sleep(0.2)
            assert attempts["recovers"] == 2

        @pytest.mark.asyncio_cooperative
        @pytest.mark.flakey
        async def test_broken():
            attempts["broken"] += 1
            await asyncio.sleep(0.2)
            assert False, f"attempt {attempts['broken']}"

        @pytest.mark.asyncio_cooperative
        async def test_slow_neighbour():
            await asyncio.sleep(1)
            assert attempts == {"recovers": 2, "broken": 2}
        """
    )
    start = time.monotonic()
    result = pytester.runpytest("-v", "--strict-markers")
    assert time.monotonic() - start < 3
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 2}
    result.stdout.fnmatch_lines(["*::test_recovers RERUN*", "*::test_recovers PASSED*"])
    result.stdout.fnmatch_lines(["*::test_broken RERUN*", "*::test_broken FAILED*"])
    result.stdout.fnmatch_lines(["E   *AssertionError: attempt 2"])


def test_summary_line_tells_what_concurrency_saved(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_n(n):
            await asyncio.sleep(1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=5)
    (line,) = [line for line in result.outlines if line.startswith("cooperative: ")]
    match = re.fullmatch(r"cooperative: 5 tests in (\d+\.\d) s; their durations add up to (\d+\.\d) s", line)
    assert match, line
    assert 1.0 <= float(match[1]) < 2.5 and 5.0 <= float(match[2]) < 7.5


def test_quiet_mode_shows_dots_and_progress(pytester):
    pytester.makepyfile(
        test_a="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_n(n):
            await asyncio.sleep(0.2 - n * 0.05)
        """,
        test_b="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_b():
            await asyncio.sleep(0.02)
        """,
    )
    result = pytester.runpytest()
    # the quicker test_b finishes first, and its file's line comes first
    result.stdout.fnmatch_lines(["test_b.py .*[[] 20%[]]", "test_a.py ....*[[]100%[]]"])


def test_stepwise_runs_tests_one_at_a_time(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_slow_broken():
            await asyncio.sleep(0.3)
            assert False

        async def test_fast_broken():
            await asyncio.sleep(0.01)
            assert False

        async def test_ok():
            pass
        """
    )
    first = pytester.runpytest("--sw")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*test_slow_broken*"])
    second = pytester.runpytest("--sw")
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(["*test_slow_broken*"])


@pytest.mark.parametrize("passing", [True, False], ids=["passing", "failing"])
def test_pytest_exit_in_a_hook_logging_a_report_ends_the_run(pytester, passing):
    # Reports of passing tests are logged at the end of the loop's iteration,
    # those of failing ones at once: either way pytest.exit() ends the run
    # cleanly, with its code, and the tests running are torn down.
    pytester.makeconftest(
        """
        import pytest

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("[2]"):
                pytest.exit("enough", returncode=3)
        """
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pathlib
        import pytest

        @pytest.fixture
        async def own(request):
            yield
            pathlib.Path(f"teardown-{{request.node.callspec.params['n']}}").touch()

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(8))
        async def test_n(own, n):
            await asyncio.sleep(0.01 * n if n <= 2 else 3)
            assert {passing!r} or n != 2
        """
    )
    start = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert time.monotonic() - start < 2.8
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*Exit: enough*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert sorted(path.name for path in pytester.path.glob("teardown-*")) == [f"teardown-{n}" for n in range(8)]


def test_trace_runs_each_test_under_pdb(pytester):
    # --trace has pdb run the test function through a synchronous wrapper that
    # drops what the function returns: the coroutine never ran, and the test
    # passed.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_fails():
            await asyncio.sleep(0.01)
            assert 6 * 7 == 41

        @pytest.mark.asyncio_cooperative
        async def test_passes():
            await asyncio.sleep(0.02)
        """
    )
    result = pytester.run(
        sys.executable, "-m", "pytest", "--trace", "-p", "no:randomly", stdin=b"continue\ncontinue\n", timeout=60
    )
    assert result.stdout.str().count("PDB runcall (IO-capturing turned off)") == 2
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["E       assert (6 * 7) == 41"])
    result.stdout.no_fnmatch_line("*never awaited*")
