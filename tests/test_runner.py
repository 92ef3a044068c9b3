"""The cooperative runner: which tests it takes, that they overlap, and that
pytest's own protocol, reports and exit codes hold for them."""

import json
import re
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# the docs' first example: two 2-second tests
SEED = (Path(__file__).parent.parent / "examples" / "quickstart" / "test_seed.py").read_text()


def test_seed_example_runs_both_tests_at_once(pytester, run_timed):
    pytester.makepyfile(SEED)
    timed = run_timed("--strict-markers")
    timed.result.assert_outcomes(passed=2)
    timed.result.stdout.fnmatch_lines(["*2 passed*"])
    assert timed.seconds < 3.5


def test_ten_one_second_tests_finish_in_under_five_seconds(pytester, run_timed):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(10))
        async def test_sleep(n):
            await asyncio.sleep(1)
        """
    )
    timed = run_timed()
    timed.result.assert_outcomes(passed=10)
    assert timed.seconds < 5


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            """
            pytestmark = pytest.mark.asyncio_cooperative

            async def test_one():
                await asyncio.sleep(1)

            async def test_two():
                await asyncio.sleep(1)

            async def test_three():
                await asyncio.sleep(1)
            """,
            id="module-pytestmark",
        ),
        pytest.param(
            """
            @pytest.mark.asyncio_cooperative
            class TestGroup:
                async def test_one(self):
                    await asyncio.sleep(1)

                async def test_two(self):
                    await asyncio.sleep(1)

                async def test_three(self):
                    await asyncio.sleep(1)
            """,
            id="class",
        ),
    ],
)
def test_marker_applies_from_module_and_class(pytester, run_timed, source):
    pytester.makepyfile("import asyncio\nimport pytest\n" + __import__("textwrap").dedent(source))
    timed = run_timed("--strict-markers")
    timed.result.assert_outcomes(passed=3)
    assert timed.seconds < 2.8


def test_marker_is_registered(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.asyncio_cooperative:*"])


def test_unmarked_tests_run_first_then_cooperative_ones(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        order = []

        @pytest.mark.asyncio_cooperative
        async def test_coop():
            order.append("coop")

        def test_plain_first():
            order.append("plain")

        @pytest.mark.asyncio_cooperative
        def test_sync_marked():
            order.append("sync-marked")

        def test_plain_second():
            order.append("plain")

        def test_zz_check_order_is_plain():
            assert order == ["plain", "plain"]

        @pytest.mark.asyncio_cooperative
        async def test_zz_check_order_after():
            await asyncio.sleep(0.1)
            assert order[:3] == ["plain", "plain", "coop"]
            assert "sync-marked" in order
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*::test_plain_first PASSED*",
            "*::test_plain_second PASSED*",
            "*::test_zz_check_order_is_plain PASSED*",
            "*::test_coop PASSED*",
        ]
    )


def test_failures_do_not_stop_the_others_and_exit_code_is_one(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_fails_early():
            await asyncio.sleep(0.1)
            raise ValueError("boom")

        @pytest.mark.asyncio_cooperative
        async def test_finishes_later():
            await asyncio.sleep(0.5)

        @pytest.mark.asyncio_cooperative
        def test_sync_fails():
            assert 1 == 2
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["E       assert 1 == 2"])
    result.stdout.fnmatch_lines(["E       ValueError: boom"])


def test_all_passing_exit_code_is_zero(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_ok():
            pass
        """
    )
    assert pytester.runpytest().ret == pytest.ExitCode.OK


def test_other_plugins_hookwrappers_see_every_phase(pytester):
    pytester.makeconftest(
        """
        import pytest

        seen = []

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_setup(item):
            seen.append(("setup", item.name))
            return (yield)

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_call(item):
            seen.append(("call", item.name))
            return (yield)

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_teardown(item, nextitem):
            seen.append(("teardown", item.name))
            return (yield)

        def pytest_terminal_summary(terminalreporter):
            for phase, name in sorted(seen):
                terminalreporter.write_line(f"SEEN {phase} {name}")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_x():
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative
        async def test_y():
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    seen = [line for line in result.outlines if line.startswith("SEEN")]
    assert seen == [
        "SEEN call test_x",
        "SEEN call test_y",
        "SEEN setup test_x",
        "SEEN setup test_y",
        "SEEN teardown test_x",
        "SEEN teardown test_y",
    ]


def test_call_report_is_made_before_teardown_starts(pytester):
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        events = []

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            events.append(f"{item.name}:report:{call.when}")
            return report

        @pytest.fixture
        async def resource(request):
            yield
            events.append(f"{request.node.name}:fixture-teardown")
            await asyncio.sleep(0.05)

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line("EVENTS " + " ".join(events))
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_one(resource):
            await asyncio.sleep(0.2)

        @pytest.mark.asyncio_cooperative
        async def test_two(resource):
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    (line,) = [line for line in result.outlines if line.startswith("EVENTS ")]
    events = line.split()[1:]
    for name in ("test_one", "test_two"):
        mine = [e.split(":", 1)[1] for e in events if e.startswith(name + ":")]
        assert mine == ["report:setup", "report:call", "fixture-teardown", "report:teardown"]


def test_durations_are_true_per_phase(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def slow_setup():
            await asyncio.sleep(0.5)

        @pytest.mark.asyncio_cooperative
        async def test_one_second(slow_setup):
            await asyncio.sleep(1)

        @pytest.mark.asyncio_cooperative
        async def test_quick():
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest("--junitxml=out.xml", "--durations=0", "-vv")
    result.assert_outcomes(passed=2)
    durations = {}
    for line in result.outlines:
        match = re.match(r"(\d+\.\d+)s (setup|call|teardown)\s+\S+::(\w+)", line)
        if match:
            durations[(match[3], match[2])] = float(match[1])
    assert 0.9 <= durations[("test_one_second", "call")] < 2.0
    assert 0.4 <= durations[("test_one_second", "setup")] < 1.5
    assert durations[("test_quick", "call")] < 0.5
    cases = {case.get("name"): float(case.get("time")) for case in ET.parse(pytester.path / "out.xml").iter("testcase")}
    assert 1.4 <= cases["test_one_second"] < 3.0
    assert cases["test_quick"] < 0.5


def test_verbose_prints_one_complete_line_per_test(pytester):
    pytester.makepyfile(
        test_interleave="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(12))
        async def test_n(n):
            await asyncio.sleep(0.3 - n * 0.02)
            assert n != 5
        """,
        test_other="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_other():
            await asyncio.sleep(0.15)
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=12, failed=1)
    lines = [line for line in result.outlines if "::test_" in line and "%]" in line]
    assert len(lines) == 13
    for line in lines:
        assert re.match(r"^test_\w+\.py::test_\w+(\[\d+\])? (PASSED|FAILED) +\[ *\d+%\]$", line), line


def test_a_report_logged_then_changed_is_shown_as_it_was_logged(pytester):
    # What retry plugins (pytest-retry) do: log an interim report, then turn
    # the same object into the final one.
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            report = outcome.get_result()
            if report.when == "call" and report.failed:
                report.outcome = "retried"
                item.ihook.pytest_runtest_logreport(report=report)
                report.outcome = "passed"

        def pytest_report_teststatus(report):
            if report.outcome == "retried":
                return "retried", "R", "RETRIED"
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_coop():
            assert False
        """
    )
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*::test_coop RETRIED*", "*::test_coop PASSED*", "*1 passed, 1 retried*"])


def test_a_test_returning_a_value_gets_pytests_warning(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_returns():
            return 42
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*PytestReturnNotNoneWarning: Test functions should return None*"])


@pytest.mark.parametrize("cap, spacing", [("1000", 10), ("999", 1)])
def test_full_collections_are_rarer_when_thousands_may_run_and_restored_after(pytester, cap, spacing):
    import gc

    before = gc.get_threshold()
    pytester.makepyfile(
        f"""
        import gc
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_spaced():
            assert gc.get_threshold() == {(before[0], before[1], before[2] * spacing)}
        """
    )
    pytester.runpytest("--max-asyncio-tasks", cap).assert_outcomes(passed=1)
    assert gc.get_threshold() == before


def test_a_finished_test_leaves_no_reference_cycle_behind(pytester, monkeypatch):
    # Its runner, Task and context are freed when it is done, not at the next
    # full garbage collection (which thousands of tests would make late), and
    # nothing keeps them. Nor is any greenlet kept: neither those the pool has
    # no room for (here it keeps 3, and 40 tests wait at once), nor the pool
    # itself once the run is over. (A suspended greenlet is never collected:
    # one that referred to itself stayed, with its stacks, until the process
    # ended.)
    pytester.makeconftest(
        """
        import collections
        import gc
        import json

        from pytest_asyncio_coop import bridge

        bridge._MAX_IDLE = 3

        def pytest_collection_finish(session):
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)

        def pytest_sessionfinish(session):
            gc.collect()
            kinds = collections.Counter(type(o).__name__ for o in gc.garbage)
            gc.set_debug(0)
            gc.garbage.clear()
            alive = collections.Counter(type(o).__name__ for o in gc.get_objects())
            with open("garbage.json", "w") as f:
                json.dump({"garbage": kinds, "alive": alive["TaskRunner"], "greenlets": alive["BridgeGreenlet"]}, f)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import os
        import pytest

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0)
            yield

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(int(os.environ["TESTS"])))
        async def test_sleeps(resource, n):
            asyncio.get_running_loop().call_soon(print, n)
            await asyncio.sleep(0.01 * (n % 3))
        """
    )
    garbage = []
    for tests in (10, 40):
        monkeypatch.setenv("TESTS", str(tests))
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=tests)
        found = json.loads((pytester.path / "garbage.json").read_text())
        assert found["alive"] == 0  # nor does anything else keep them (a pooled greenlet, say)
        assert found["greenlets"] == 0
        kinds = found["garbage"]
        assert kinds.get("TaskRunner", 0) == 0 and kinds.get("Task", 0) == 0 and kinds.get("coroutine", 0) == 0, kinds
        garbage.append(sum(kinds.values()))
    # What the session drops at its end (the loop, the scheduler) is the same
    # for both runs; thirty more tests' cycles would be dozens more objects.
    assert garbage[1] - garbage[0] < 10, garbage


def test_a_loop_left_patched_so_that_it_cannot_close_is_a_warning(pytester):
    # The loop is every test's; one left patched must not make the end of the
    # run an INTERNALERROR, after every test got its outcome.
    pytester.makepyfile(
        """
        import asyncio
        import signal
        from unittest import mock

        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_leaves_the_loop_patched():
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
            loop.remove_signal_handler = mock.Mock(side_effect=NotImplementedError)
        """
    )
    wakeup_fd_before = signal.set_wakeup_fd(-1)
    result = pytester.runpytest("-p", "no:randomly")  # in this process
    result.assert_outcomes(passed=1, warnings=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*PytestWarning: closing the cooperative tests' event loop raised NotImplementedError(); "
         "did a test leave the loop patched?"]
    )
    # Signals no longer wake the loop's socket, which closes with the loop
    # (a later loop that restores it at its end would fail: EBADF).
    assert signal.set_wakeup_fd(wakeup_fd_before) == -1


def test_a_test_cancelling_every_task_on_the_loop_does_not_end_the_run(pytester):
    # A signal handler's clean-up in a project's code (python-engineio's)
    # cancels every task on the loop: the plugin's own keep going, and every
    # test after it still runs and is reported.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_cancels_every_task():
            async def handler():
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            asyncio.ensure_future(handler())
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_after(n):
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--max-asyncio-tasks", "1")
    result.assert_outcomes(passed=4, warnings=1)
    assert result.ret == pytest.ExitCode.OK
    assert "INTERNALERROR" not in result.stdout.str()
