"""Timeouts: where they come from, what a timed-out test reports, that
teardown still runs, and that waiting costs no CPU."""

import resource
import time

import pytest


HANGING = """
import asyncio
import pathlib
import pytest

@pytest.fixture
async def resource_with_teardown():
    yield
    await asyncio.sleep(0.1)
    pathlib.Path("teardown-completed").touch()

@pytest.mark.asyncio_cooperative
async def test_hangs(resource_with_teardown):
    await asyncio.sleep(30)

@pytest.mark.asyncio_cooperative
async def test_quick():
    await asyncio.sleep(0.1)
"""


def test_timed_out_test_fails_and_its_teardown_completes(pytester):
    pytester.makepyfile(HANGING)
    result = pytester.runpytest("--asyncio-task-timeout", "1")
    result.assert_outcomes(passed=1, failed=1)
    assert (pytester.path / "teardown-completed").exists()
    result.stdout.fnmatch_lines(
        [
            "*_ test_hangs _*",
            ">       await asyncio.sleep(30)",
            "*TaskTimeout: timed out after 1.0 s (asyncio_task_timeout = 1), waiting in the test's call",
            "*await stack at the timeout, outermost first:",
            "*test_timed_out_test_fails_and_its_teardown_completes.py:* in test_hangs",
            "*asyncio?tasks.py:* in sleep",
        ]
    )


def test_ini_timeout(pytester):
    pytester.makeini("[pytest]\nasyncio_task_timeout = 1\n")
    pytester.makepyfile(HANGING)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*timed out after 1.0 s*"])


def test_command_line_overrides_ini(pytester):
    pytester.makeini("[pytest]\nasyncio_task_timeout = 100\n")
    pytester.makepyfile(HANGING)
    result = pytester.runpytest("--asyncio-task-timeout", "0.5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*timed out after 0.5 s*"])


def test_default_timeout_is_600_seconds(pytester):
    pytester.makepyfile(
        """
        import pytest

        def test_settings(pytestconfig):
            from pytest_asyncio_coop.plugin import settings
            assert settings(pytestconfig).task_timeout == 600
            assert settings(pytestconfig).max_tasks == 100
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_timeout_counts_from_start_not_from_queueing(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_each_takes_most_of_the_timeout(n):
            await asyncio.sleep(0.6)
        """
    )
    # One at a time, the last test starts 1.8 s after it was queued.
    result = pytester.runpytest("--max-asyncio-tasks", "1", "--asyncio-task-timeout", "1")
    result.assert_outcomes(passed=4)


def test_time_before_the_first_await_counts_against_the_timeout(pytester):
    # The deadline's timer is only set when a test first waits (a test that
    # never does cannot be cancelled, and needs none); it still counts from
    # the start, so a test that held the loop past it times out at that wait.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_blocks_then_waits():
            time.sleep(1.2)
            await asyncio.sleep(0.5)
            await asyncio.sleep(30)

        @pytest.mark.asyncio_cooperative
        async def test_blocks_within_its_timeout():
            time.sleep(0.2)
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([">       await asyncio.sleep(0.5)", "*TaskTimeout: timed out after 1.0 s*"])


def test_timeout_in_async_fixture_setup_is_a_setup_error(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def never_ready():
            await asyncio.sleep(30)

        @pytest.mark.asyncio_cooperative
        async def test_needs_it(never_ready):
            pass
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "0.5")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_needs_it*",
            "*timed out after 0.5 s (asyncio_task_timeout = 0.5), waiting in fixture 'never_ready' at setup",
            "*await stack at the timeout, outermost first:",
            "*test_timeout_in_async_fixture_setup_is_a_setup_error.py:6 in never_ready",
        ]
    )


def test_hanging_teardown_is_bounded_too(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def stuck_teardown():
            yield
            await asyncio.sleep(30)

        @pytest.mark.asyncio_cooperative
        async def test_hangs_then_teardown_hangs(stuck_teardown):
            await asyncio.sleep(30)
        """
    )
    start = time.monotonic()
    result = pytester.runpytest("--asyncio-task-timeout", "0.5")
    assert time.monotonic() - start < 10
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_hangs_then_teardown_hangs*",
            "*timed out after 0.5 s (asyncio_task_timeout = 0.5), waiting in fixture 'stuck_teardown' at teardown",
        ]
    )


def test_test_that_swallows_the_cancellation_still_times_out(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_stubborn():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "0.5")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*timed out after 0.5 s*"])


def test_sleeping_suite_does_not_busy_wait(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(50))
        async def test_sleep(n):
            await asyncio.sleep(3)
        """
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.assert_outcomes(passed=50)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert wall >= 3
    assert cpu < wall / 2, (cpu, wall)


def test_per_test_timeout_on_the_marker(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def helper():
            await asyncio.sleep(5)

        @pytest.mark.asyncio_cooperative(timeout=0.3)
        async def test_short_leash():
            await helper()

        @pytest.mark.asyncio_cooperative
        async def test_uses_the_option():
            await asyncio.sleep(0.6)
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TaskTimeout: timed out after 0.3 s (timeout on the marker = 0.3), waiting in the test's call",
            "*await stack at the timeout, outermost first:",
            "*test_per_test_timeout_on_the_marker.py:9 in test_short_leash",
            "*test_per_test_timeout_on_the_marker.py:5 in helper",
        ]
    )


def test_a_test_that_swallows_the_cancellation_and_waits_again_gets_the_timeout_there(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative(timeout=0.3)
        async def test_swallow():
            try:
                await asyncio.sleep(2)
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative(timeout=0.2)
        async def test_swallows_everything():
            for _ in range(4):
                try:
                    await asyncio.sleep(0.2)
                except BaseException:
                    pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*_ test_swallow _*", ">       await asyncio.sleep(0.05)", "*TaskTimeout: timed out after 0.3 s*"])
    assert "StopIteration" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*_ test_swallows_everything _*", "*TaskTimeout: timed out after 0.2 s*"])


def test_a_test_patching_the_loops_clock_does_not_time_out_the_others(pytester):
    # The loop is every test's: one that freezes loop.time() (a virtual-time
    # helper) must not make the others' deadlines and durations nonsense.
    pytester.makepyfile(
        """
        import asyncio
        from unittest import mock

        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_freezes_the_loop_clock():
            loop = asyncio.get_running_loop()
            with mock.patch.object(loop, "time", return_value=0.0):
                for _ in range(3):
                    await asyncio.sleep(0)

        @pytest.mark.asyncio_cooperative
        async def test_innocent():
            for _ in range(5):
                await asyncio.sleep(0)
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["cooperative: 2 tests in *; their durations add up to 0.* s"])


def test_a_test_freezing_the_time_module_leaves_the_deadlines_and_durations_real(pytester):
    # freezegun replaces time.monotonic (and any module attribute holding
    # it) while a test runs. The loop's clock stands still for every test
    # then, as documented; deadlines and durations must still go by the real
    # clock, or the run hangs and the summary is nonsense.
    pytest.importorskip("freezegun")
    pytester.makepyfile(
        """
        import asyncio

        import pytest
        from freezegun import freeze_time

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_frozen_across_an_await():
            with freeze_time("2020-01-01"):
                await asyncio.sleep(0.2)

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_other():
            await asyncio.sleep(0.3)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["E *TaskTimeout: timed out after 1.0 s *", "cooperative: 2 tests in 1.* s; their durations add up to 2.* s"]
    )


def test_a_timeout_goes_off_even_when_the_loops_clock_stands_still(pytester):
    # Two tests that patch loop.time undo each other's patches and can leave
    # it frozen: no loop timer goes off again. Deadlines are kept by the real
    # clock, so the tests still end, each with its outcome.
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_leaves_the_clock_frozen():
            asyncio.get_running_loop().time = lambda: 0.0
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_innocent():
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=120)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*TaskTimeout: timed out after 1.0 s (timeout on the marker = 1), waiting in *"])


def test_a_loop_with_a_virtual_clock_sees_none_of_the_plugins_timers(pytester):
    # A test loop that jumps to its next timer when idle (as aiostream's
    # does) sees only the tests' own timers, not their deadlines'.
    pytester.makeconftest(
        """
        import asyncio

        import pytest_asyncio_coop

        class VirtualClockLoop(asyncio.SelectorEventLoop):
            def __init__(self):
                super().__init__()
                self.now = 0.0
                self.jumps = []

            def time(self):
                return self.now

            def _run_once(self):
                timers = [timer for timer in self._scheduled if not timer.cancelled()]
                if not self._ready and timers:
                    when = min(timer.when() for timer in timers)
                    if when > self.now:
                        self.jumps.append(when - self.now)
                        self.now = when
                super()._run_once()

        @pytest_asyncio_coop.hookimpl
        def make_event_loop(settings):
            return VirtualClockLoop()
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.mark.asyncio_cooperative(timeout=5)
        async def test_sleeps_a_virtual_hour():
            loop = asyncio.get_running_loop()
            await asyncio.sleep(3600)
            await asyncio.sleep(7200)
            assert loop.jumps == [3600, 7200]
        """
    )
    pytester.runpytest_subprocess("-p", "no:randomly", timeout=60).assert_outcomes(passed=1)


def test_a_very_long_timeout_leaves_the_others_in_force(pytester):
    # "As good as none" (1e10 s) is a valid timeout; the deadlines' thread
    # must not give up on it and leave every other test without one.
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.mark.asyncio_cooperative(timeout=1e10)
        async def test_long_budget():
            await asyncio.sleep(0.2)

        @pytest.mark.asyncio_cooperative(timeout=1)
        async def test_hangs():
            await asyncio.sleep(5)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--max-asyncio-tasks=1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*TaskTimeout: timed out after 1.0 s*"])


def test_no_thread_of_the_plugin_starts_during_a_test(pytester):
    # Suites check that a test leaves no thread behind (aiohappyeyeballs does).
    pytester.makepyfile(
        """
        import asyncio
        import threading

        import pytest

        @pytest.fixture
        def no_new_threads():
            before = set(threading.enumerate())
            yield
            assert set(threading.enumerate()) - before == set()

        @pytest.mark.asyncio_cooperative
        async def test_waits(no_new_threads):
            await asyncio.sleep(0.01)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
