"""Diagnostics: tests that block the event loop (summary, strict mode, a
test that never yields), and tasks a test leaves pending."""

import subprocess
import sys
import time

import pytest

BLOCKING = """
import asyncio
import time
import pytest

def crunch(seconds):
    time.sleep(seconds)  # holds the loop

@pytest.mark.asyncio_cooperative
async def test_blocks_twice():
    await asyncio.sleep(0.01)
    crunch(0.4)
    await asyncio.sleep(0.01)
    crunch(0.3)

@pytest.mark.asyncio_cooperative
async def test_polite():
    for _ in range(10):
        await asyncio.sleep(0.05)
"""


def test_blocking_tests_are_listed_in_the_summary(pytester):
    pytester.makepyfile(BLOCKING)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= tests that blocked the event loop =*",
            "test_blocking_tests_are_listed_in_the_summary.py::test_blocks_twice: longest 0.4? s, 0.7? s in all, "
            "at *test_blocking_tests_are_listed_in_the_summary.py:6 in crunch",
        ]
    )
    assert "test_polite:" not in result.stdout.str()


def test_threshold_option_and_ini(pytester):
    pytester.makepyfile(BLOCKING)
    assert "tests that blocked" not in pytester.runpytest("--asyncio-block-threshold", "1").stdout.str()
    pytester.makeini("[pytest]\nasyncio_block_threshold = 0.35\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*::test_blocks_twice: longest 0.4? s, 0.4? s in all, at *:6 in crunch"])


def test_blocking_error_mode_fails_the_test(pytester):
    pytester.makepyfile(BLOCKING)
    result = pytester.runpytest("--asyncio-blocking=error")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_blocks_twice*",
            "*LoopBlocked: held the event loop for 0.4? s (asyncio_block_threshold = 0.25) at *:6 in crunch",
        ]
    )


@pytest.mark.parametrize("args", [["--asyncio-blocking=sometimes"], ["--asyncio-leaks=loud"], ["--asyncio-block-threshold=0"]])
def test_bad_diagnostics_options_are_usage_errors(pytester, args):
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    option = args[0].split("=")[0]
    result.stderr.fnmatch_lines([f"*argument {option}*"])


def test_a_test_that_never_yields_ends_the_run_loudly(pytester):
    pytester.makepyfile(
        """
        import pathlib
        import pytest

        @pytest.fixture
        async def marks_teardown():
            yield
            pathlib.Path("teardown-ran").touch()

        @pytest.mark.asyncio_cooperative(timeout=0.5)
        async def test_spins(marks_teardown):
            while True:
                pass
        """
    )
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - start < 20
    assert proc.returncode != 0
    assert "test_spins has held the event loop for" in proc.stderr
    assert "cannot be cancelled, so the run ends here" in proc.stderr
    assert "in test_spins" in proc.stderr  # where it spins
    assert "KeyboardInterrupt" in proc.stdout
    assert (pytester.path / "teardown-ran").exists()


LEAKY = """
import asyncio
import pytest

async def forever():
    await asyncio.sleep(3600)

cancelled = []

async def tracked():
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        cancelled.append(True)
        raise

@pytest.mark.asyncio_cooperative
async def test_leaks():
    asyncio.create_task(forever())
    asyncio.ensure_future(tracked())
    await asyncio.sleep(0.01)

@pytest.mark.asyncio_cooperative
async def test_tidy():
    task = asyncio.create_task(forever())
    await asyncio.sleep(0.01)
    task.cancel()

@pytest.fixture(scope="session")
async def background_server():
    task = asyncio.create_task(forever())  # lives as long as the session: not a leak
    yield
    task.cancel()

@pytest.mark.asyncio_cooperative
async def test_uses_server(background_server):
    await asyncio.sleep(0.01)

@pytest.mark.asyncio_cooperative
async def test_zz_leaked_tasks_were_cancelled():
    await asyncio.sleep(0.3)
    assert cancelled == [True]
"""


def test_leaked_tasks_are_a_warning_of_the_test_and_are_cancelled(pytester):
    pytester.makepyfile(LEAKY)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_leaks",
            "*TaskLeakWarning: *::test_leaks left 2 task(s) pending, now cancelled: "
            "coroutine forever created at *:18 in test_leaks; coroutine tracked created at *:19 in test_leaks",
        ]
    )
    assert "Task was destroyed" not in result.stdout.str() + result.stderr.str()


def test_an_exception_while_a_leaked_task_unwinds_is_logged_in_the_tests_teardown(pytester):
    # as asyncio.run() (and pytest-asyncio's loop shutdown) logs it, rather
    # than "Task exception was never retrieved" some time later
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def stubborn(n):
            try:
                await asyncio.sleep(10)
            finally:
                raise ValueError(f"cleanup of {n} failed")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_leaks(n):
            asyncio.create_task(stubborn(n))
            await asyncio.sleep(0.01 * (3 - n))
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-rP", "-o", "asyncio_leaks=ignore")
    result.assert_outcomes(passed=3)
    sections = result.stdout.str().split("- Captured log teardown -")[1:]
    assert len(sections) == 3
    for n in range(3):
        (section,) = [section for section in sections if f"ValueError: cleanup of {n} failed" in section]
        assert "unhandled exception while cancelling a task the test left pending" in section
        assert f"cleanup of {(n + 1) % 3} failed" not in section
    assert "never retrieved" not in result.stdout.str() + result.stderr.str()


def test_leaks_error_and_ignore(pytester):
    pytester.makepyfile(LEAKY)
    result = pytester.runpytest("--asyncio-leaks=error")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*TaskLeak: *left 2 task(s) pending*"])
    quiet = pytester.runpytest("-o", "asyncio_leaks=ignore")
    quiet.assert_outcomes(passed=4)
    assert "TaskLeak" not in quiet.stdout.str()


def test_closing_an_async_generator_the_test_dropped_is_no_leak(pytester):
    # asyncio closes a dropped async generator in a task of its own, made a
    # loop iteration later, from the test's context: the loop's, not a leak.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        closed = []

        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                closed.append(True)

        @pytest.mark.asyncio_cooperative
        async def test_takes_the_first_of_two_and_drops_the_generator():
            agen = numbers()
            closing = asyncio.ensure_future(asyncio.Event().wait())
            step = asyncio.ensure_future(agen.__anext__())
            _, pending = await asyncio.wait([closing, step], return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            assert step.result() == 1

        @pytest.mark.asyncio_cooperative
        async def test_zz_it_was_closed():
            await asyncio.sleep(0.2)
            assert closed == [True]
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--asyncio-leaks=error")
    result.assert_outcomes(passed=2)


def test_a_task_made_by_no_code_of_the_test_says_so(pytester):
    # Made from a loop callback the test scheduled: no frame of the test's
    # own code, not pytest's entry point, says where.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_schedules_a_task():
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.create_task, asyncio.sleep(5))
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")  # pytest's entry point on the stack
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines([  # located at the test's function
        "*test_a_task_made_by_no_code_of_the_test_says_so.py:4: TaskLeakWarning: "
        "*left 1 task(s) pending, now cancelled: coroutine sleep created at an unknown place",
    ])


def test_a_finished_task_is_not_kept_for_the_leak_check(pytester):
    # The task a test made, done and let go, is freed then, as in plain
    # asyncio; an exception nobody retrieved is logged then, in the test.
    pytester.makepyfile(
        """
        import asyncio
        import gc
        import weakref

        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_finished_task_is_freed():
            task = asyncio.create_task(asyncio.sleep(0, result=object()))
            await task
            await asyncio.sleep(0)  # the loop lets go of the callback that woke the test
            ref = weakref.ref(task)
            del task
            gc.collect()
            assert ref() is None

        @pytest.mark.asyncio_cooperative
        async def test_unretrieved_exception_is_logged(caplog):
            async def boom():
                raise RuntimeError("boom")

            task = asyncio.create_task(boom())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert task.done()
            del task
            gc.collect()
            assert "Task exception was never retrieved" in caplog.text
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_tasks_a_test_makes_keep_their_names(pytester):
    # Python 3.13.0 to 3.13.2 would name every task 'None' once a task factory
    # (the one the leak check uses) is set.
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_names():
            default = asyncio.create_task(asyncio.sleep(0))
            named = asyncio.get_running_loop().create_task(asyncio.sleep(0), name="worker")
            await asyncio.gather(default, named)
            assert default.get_name().startswith("Task-")
            assert named.get_name() == "worker"
            named.set_name("renamed")
            assert named.get_name() == "renamed"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_faulthandler_timeout_dumps_the_tracebacks_of_a_test_that_overruns(pytester):
    # One timer per process: each test's start re-armed it, and the first
    # test to end cancelled it for all.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_quick(n):
            await asyncio.sleep(0.05 * n)

        @pytest.mark.asyncio_cooperative
        async def test_waits():
            await asyncio.sleep(1.2)

        @pytest.mark.asyncio_cooperative
        async def test_blocks():
            await asyncio.sleep(0.1)
            time.sleep(1.2)
        """
    )
    # in a process of its own: the dump goes to the process's stderr
    result = pytester.runpytest_subprocess("-o", "faulthandler_timeout=0.5", "-k", "quick or waits")
    result.assert_outcomes(passed=5)
    assert result.stderr.str().count("Timeout (") == 1, result.stderr.str()  # the time left when armed

    result = pytester.runpytest_subprocess("-o", "faulthandler_timeout=0.5")
    result.assert_outcomes(passed=6)
    result.stderr.fnmatch_lines(["Timeout (*)!", "*", "*File *, line * in test_blocks"])
