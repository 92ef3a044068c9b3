"""Warnings of interleaved tests: attribution, recwarn and pytest.warns, -W and
filterwarnings, and the process's filters after the run."""

import pytest


def test_each_warning_is_listed_under_its_own_test(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(8))
        async def test_warns(n):
            for i in range(3):
                await asyncio.sleep(0.01 * ((n + i) % 3))
            warnings.warn(UserWarning(f"from test {n}"))
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=8, warnings=8)
    lines = result.outlines
    for n in range(8):
        at = lines.index(f"test_each_warning_is_listed_under_its_own_test.py::test_warns[{n}]")
        assert lines[at + 1].endswith(f"UserWarning: from test {n}"), lines[at : at + 3]


def test_recwarn_and_pytest_warns_in_concurrent_tests(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(6))
        async def test_recwarn(recwarn, n):
            warnings.warn(UserWarning(f"mine {n}"))
            await asyncio.sleep(0.02 * (n % 3))
            warnings.warn(UserWarning(f"again {n}"))
            assert [str(w.message) for w in recwarn] == [f"mine {n}", f"again {n}"]

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(6))
        async def test_pytest_warns(n):
            with pytest.warns(DeprecationWarning, match=f"old {n}") as record:
                await asyncio.sleep(0.02 * (n % 3))
                warnings.warn(DeprecationWarning(f"old {n}"))
            assert len(record) == 1
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=12)


def test_dash_w_error_and_filterwarnings_markers_apply(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_becomes_error():
            await asyncio.sleep(0.02)
            warnings.warn(UserWarning("strict"))

        @pytest.mark.asyncio_cooperative
        @pytest.mark.filterwarnings("ignore:strict")
        async def test_ignored_by_marker():
            await asyncio.sleep(0.01)
            warnings.warn(UserWarning("strict"))

        @pytest.mark.asyncio_cooperative
        @pytest.mark.filterwarnings("error::DeprecationWarning")
        async def test_marker_makes_error():
            warnings.warn(DeprecationWarning("old"))

        @pytest.mark.asyncio_cooperative
        async def test_unaffected_by_neighbour_marker():
            await asyncio.sleep(0.03)
            warnings.warn(DeprecationWarning("old"))
        """
    )
    result = pytester.runpytest("-W", "error::UserWarning")
    result.assert_outcomes(passed=2, failed=2, warnings=1)
    result.stdout.fnmatch_lines(["*_ test_becomes_error _*", "*", "E       UserWarning: strict"])
    result.stdout.fnmatch_lines(["*_ test_marker_makes_error _*", "*", "E       DeprecationWarning: old"])


@pytest.mark.filterwarnings("ignore:background")  # the inner run's outside state is this test's
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_tasks_and_callbacks_a_test_schedules_run_with_its_warnings_and_log_levels(pytester, loop):
    # as with the test alone: pytest.warns around a gather, recwarn, caplog's
    # level and PYTEST_CURRENT_TEST hold in the code it hands to the loop; not
    # in a shared fixture's task, which is no test's
    if loop == "uvloop":
        pytest.importorskip("uvloop")
        pytester.makeini("[pytest]\nasyncio_loop_factory = uvloop.new_event_loop\n")
    pytester.makepyfile(
        test_scheduled="""
        import asyncio
        import logging
        import os
        import warnings
        import pytest

        @pytest.fixture(scope="session")
        async def background():
            async def tick():
                while True:
                    await asyncio.sleep(0.005)
                    warnings.warn(UserWarning("background"))
            task = asyncio.create_task(tick())
            yield
            task.cancel()

        async def warn_later(n, delay):
            await asyncio.sleep(delay)
            warnings.warn(UserWarning(f"task of {n}"))

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(6))
        async def test_gather(background, n):
            with pytest.warns(UserWarning) as record:
                await asyncio.gather(warn_later(n, 0.01 * (n % 3)), warn_later(n, 0.02))
            assert [str(w.message) for w in record] == [f"task of {n}"] * 2

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_callbacks(background, recwarn, n):
            loop = asyncio.get_running_loop()
            loop.call_soon(warnings.warn, f"soon {n}")
            loop.call_later(0.01 * n, warnings.warn, f"later {n}")
            future = loop.create_future()
            future.add_done_callback(lambda f: warnings.warn(f"done {n}"))
            loop.call_later(0.02, future.set_result, None)
            seen = []
            loop.call_soon(lambda: seen.append(os.environ.get("PYTEST_CURRENT_TEST")))
            await asyncio.sleep(0.05)
            assert sorted(str(w.message) for w in recwarn) == sorted([f"soon {n}", f"later {n}", f"done {n}"])
            assert seen == [f"test_scheduled.py::test_callbacks[{n}] (call)"]

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_caplog_level_in_tasks(caplog, n):
            caplog.set_level(logging.DEBUG, logger="lib")
            async def work():
                await asyncio.sleep(0.01 * n)
                logging.getLogger("lib").debug(f"debug {n}")
            await asyncio.create_task(work())
            assert caplog.messages == [f"debug {n}"]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=14)


def test_a_test_running_alone_keeps_its_warnings_while_it_waits(pytester):
    # as with pytest alone: what a thread warns while the test awaits it is
    # the test's (one at a time, or once the others are done); a plain test
    # run meanwhile has its own warnings
    pytester.makepyfile(
        test_threads="""
        import asyncio
        import time
        import warnings
        import pytest

        def slow_warn(text):
            time.sleep(0.05)
            warnings.warn(text, UserWarning)

        @pytest.mark.asyncio_cooperative
        async def test_to_thread():
            with pytest.warns(UserWarning, match="to_thread"):
                await asyncio.to_thread(slow_warn, "to_thread")

        @pytest.mark.asyncio_cooperative
        async def test_executor(recwarn):
            await asyncio.get_running_loop().run_in_executor(None, slow_warn, "executor")
            assert [str(w.message) for w in recwarn] == ["executor"]

        def test_sync(recwarn):
            warnings.warn("sync", UserWarning)
            assert [str(w.message) for w in recwarn] == ["sync"]

        @pytest.mark.asyncio_cooperative
        async def test_short():
            await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        async def test_left_alone():
            await asyncio.sleep(0.3)
            with pytest.warns(UserWarning, match="alone"):
                await asyncio.to_thread(slow_warn, "alone")
        """
    )
    pytester.runpytest("-p", "no:randomly", "--max-asyncio-tasks", "1", "--asyncio-sync-tests=overlap").assert_outcomes(
        passed=5
    )
    pytester.runpytest(
        "-p", "no:randomly", "test_threads.py::test_short", "test_threads.py::test_sync", "test_threads.py::test_left_alone"
    ).assert_outcomes(passed=3)


def test_warning_filters_are_unchanged_after_the_run(pytester):
    pytester.makeconftest(
        """
        import warnings

        def pytest_configure(config):
            config._filters_before = list(warnings.filters)
            config._showwarning_before = warnings.showwarning

        def pytest_unconfigure(config):
            assert warnings.filters == config._filters_before
            assert warnings.showwarning is config._showwarning_before
            print("FILTERS UNCHANGED")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(10))
        @pytest.mark.filterwarnings("ignore::ResourceWarning")
        async def test_meddles(recwarn, n):
            warnings.simplefilter("always")
            await asyncio.sleep(0.01 * (n % 4))
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                await asyncio.sleep(0.01 * (n % 3))
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*FILTERS UNCHANGED*"])


UNRAISABLE = """
import asyncio
import pytest

class Bad:
    def __del__(self):
        raise ValueError("bad __del__")

@pytest.mark.asyncio_cooperative
async def test_culprit():
    Bad()
    await asyncio.sleep(0.3)

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(3))
async def test_innocent(n):
    await asyncio.sleep(0.05 * (n + 1))
"""


def test_an_unraisable_exception_is_reported_by_the_test_it_came_from(pytester):
    # pytest reports what its process-wide hook queued at the end of every
    # phase of every test: not of whichever test's phase ends next.
    pytester.makepyfile(UNRAISABLE)
    result = pytester.runpytest("-p", "no:randomly", "-W", "error::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED *::test_culprit*"])
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(
        ["*::test_culprit", "*PytestUnraisableExceptionWarning: Exception ignored in: <function Bad.__del__*"]
    )


def test_a_warning_repeated_across_awaits_is_listed_once_per_test(pytester):
    # pytest shows a "default" warning once per place and test: the module's
    # registry keeps it until the filters change. Other tests' filters coming
    # and going between the awaits must not show it again.
    pytester.makepyfile(
        test_repeats="""
        import asyncio
        import warnings
        import pytest

        def careful():
            warnings.warn("careful", UserWarning)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_repeats(n):
            for i in range(5):
                careful()
                await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        async def test_changes_its_filters():
            careful()
            await asyncio.sleep(0.01)
            warnings.simplefilter("always")  # shown afresh from now on, each time
            for i in range(3):
                careful()
                await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        async def test_explicit_without_registry():
            for i in range(3):  # no registry, so every one is shown
                warnings.warn_explicit("explicit", UserWarning, "elsewhere.py", 1)
            await asyncio.sleep(0.01)
        """,
        test_always_here="""
        import asyncio
        import warnings
        import pytest

        pytestmark = pytest.mark.filterwarnings("always::UserWarning:test_always_here")

        @pytest.mark.asyncio_cooperative
        async def test_always():
            for i in range(4):
                warnings.warn("each time", UserWarning)
                await asyncio.sleep(0.01)
        """,
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=6, warnings=3 + 4 + 3 + 4)


def test_what_a_tests_thread_warns_is_the_tests_while_others_run(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        def slow_warn(text, category):
            time.sleep(0.05)
            warnings.warn(text, category)

        @pytest.mark.asyncio_cooperative
        async def test_caught():
            with pytest.warns(DeprecationWarning, match="caught"):
                await asyncio.get_running_loop().run_in_executor(None, slow_warn, "caught", DeprecationWarning)

        @pytest.mark.asyncio_cooperative
        async def test_recorded(recwarn):
            await asyncio.to_thread(slow_warn, "recorded", UserWarning)
            assert [str(w.message) for w in recwarn] == ["recorded"]

        @pytest.mark.asyncio_cooperative
        async def test_listed():
            await asyncio.to_thread(slow_warn, "listed", UserWarning)

        @pytest.mark.asyncio_cooperative
        async def test_other():
            await asyncio.sleep(0.3)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(["*::test_listed", "*UserWarning: listed"])
