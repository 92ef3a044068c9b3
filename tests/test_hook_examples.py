"""The hook reference's examples (examples/hooks/, one conftest per hook) do
what docs/hooks.rst says they do."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HOOK_EXAMPLES = Path(__file__).parent.parent / "examples" / "hooks"


def use_example(pytester, name):
    pytester.makeconftest((HOOK_EXAMPLES / f"{name}.py").read_text())


def junit_properties(pytester, path="junit.xml"):
    """test name -> [(property name, value)] of a --junitxml report."""
    tree = ET.parse(pytester.path / path)
    return {
        case.get("name"): [(p.get("name"), p.get("value")) for p in case.iter("property")]
        for case in tree.iter("testcase")
    }


def test_on_task_start_records_start_times(pytester):
    use_example(pytester, "on_task_start")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_n(n):
            await asyncio.sleep(0.1)

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=4)
    properties = junit_properties(pytester)
    assert properties["test_plain"] == []
    starts = [float(dict(properties[f"test_n[{n}]"])["started"]) for n in range(3)]
    assert max(starts) - min(starts) < 0.1  # all started together


def test_on_task_finish_lists_close_calls(pytester):
    use_example(pytester, "on_task_finish")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative(timeout=0.6)
        async def test_close():
            await asyncio.sleep(0.4)

        @pytest.mark.asyncio_cooperative(timeout=0.6)
        async def test_close_and_failing():
            await asyncio.sleep(0.4)
            assert False

        @pytest.mark.asyncio_cooperative
        async def test_quick():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= tests that used over half their timeout =*",
            "test_on_task_finish_lists_close_calls.py::test_close (passed): 0.4 s of its 0.6 s",
            "test_on_task_finish_lists_close_calls.py::test_close_and_failing (failed): 0.4 s of its 0.6 s",
        ]
    )
    assert "test_quick (" not in result.stdout.str()


def test_on_task_timeout_gives_slow_tests_their_timeout_twice(pytester):
    use_example(pytester, "on_task_timeout")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative(timeout=0.4)

        @pytest.mark.slow
        async def test_slow_but_within_twice():
            await asyncio.sleep(0.6)

        @pytest.mark.slow
        async def test_slow_and_too_slow():
            await asyncio.sleep(1.2)

        async def test_not_marked():
            await asyncio.sleep(0.6)
        """
    )
    result = pytester.runpytest("--strict-markers", "-rf")
    result.assert_outcomes(passed=1, failed=2)
    for name in ("test_slow_and_too_slow", "test_not_marked"):
        result.stdout.fnmatch_lines([f"FAILED *::{name}*"])
    raised = [line for line in result.outlines if line.startswith("E ") and "TaskTimeout: timed out after 0.4 s" in line]
    assert len(raised) == 2


def test_lock_hooks_summarise_each_lock(pytester):
    use_example(pytester, "lock_hooks")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_asyncio_coop import Lock

        db = Lock("db")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_db(n):
            async with db:
                await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    # the first holder finds two waiting once they queue; each release wakes the next
    result.stdout.fnmatch_lines(["lock db: acquired 3 times, at most 1 waiting, held at most 0.1? s"])


def test_on_loop_blocked_records_where(pytester):
    use_example(pytester, "on_loop_blocked")
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_blocks():
            await asyncio.sleep(0)
            time.sleep(0.4)

        @pytest.mark.asyncio_cooperative
        async def test_polite():
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    properties = junit_properties(pytester)
    assert properties["test_polite"] == []
    [(name, value)] = properties["test_blocks"]
    assert name == "blocked_loop"
    assert value.startswith("0.4") and value.endswith("test_on_loop_blocked_records_where.py:8"), value


def test_make_event_loop_runs_tests_in_debug_mode(pytester):
    use_example(pytester, "make_event_loop")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_debug():
            loop = asyncio.get_running_loop()
            assert loop.get_debug() and loop.slow_callback_duration == 0.5
        """
    )
    pytester.runpytest("--asyncio-block-threshold=0.5").assert_outcomes(passed=1)


def test_order_tasks_starts_slow_tests_first(pytester):
    use_example(pytester, "order_tasks")
    pytester.makepyfile(
        """
        import pytest

        started = []
        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            started.append("a")

        @pytest.mark.slow
        async def test_b():
            started.append("b")

        async def test_c():
            started.append("c")

        @pytest.mark.slow
        async def test_d():
            started.append("d")

        def test_zz_order():
            assert started == ["b", "d", "a", "c"]
        """
    )
    pytester.runpytest("--strict-markers", "--max-asyncio-tasks=1").assert_outcomes(passed=5)


def test_admit_task_caps_tests_per_module(pytester):
    use_example(pytester, "admit_task")
    test_module = """
        import asyncio
        import pytest

        from conftest import running

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_n(n):
            running.append(__name__)
            await asyncio.sleep(0.1)
            print("PEAK", __name__, running.count(__name__), len(running))
            running.remove(__name__)
        """
    pytester.makepyfile(test_one=test_module, test_two=test_module, test_three=test_module)
    pytester.path.joinpath("conftest.py").write_text(pytester.path.joinpath("conftest.py").read_text() + "\nrunning = []\n")
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=15)
    peaks = [line.split() for line in result.outlines if line.startswith("PEAK")]
    assert max(int(peak[2]) for peak in peaks) == 2
    assert max(int(peak[3]) for peak in peaks) == 6  # two of each module at once


def test_marker_options_declares_and_checks_an_argument(pytester):
    use_example(pytester, "marker_options")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(service="db")
        async def test_db():
            pass

        @pytest.mark.asyncio_cooperative(service="mail")
        async def test_unknown_service():
            pass

        @pytest.mark.asyncio_cooperative(servce="db")
        async def test_misspelt():
            pass
        """
    )
    result = pytester.runpytest("--continue-on-collection-errors", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*::test_unknown_service: asyncio_cooperative(service='mail'): service must be one of db, cache, queue",
            "*::test_misspelt: asyncio_cooperative(servce='db'): unknown argument 'servce'*",
        ]
    )
    assert junit_properties(pytester)["test_db"] == [("service", "db")]


@pytest.mark.parametrize("path", sorted(HOOK_EXAMPLES.glob("*.py")), ids=lambda path: path.stem)
def test_every_hook_example_is_tested(path):
    assert any(path.stem in name for name in globals() if name.startswith("test_")), path.name


def test_every_hook_has_an_example_in_the_hook_reference():
    from pytest_asyncio_coop import hookspecs

    hooks = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "pytest_asyncio_coop_spec")]
    examples = {path.name: path.read_text() for path in HOOK_EXAMPLES.glob("*.py")}
    assert [hook for hook in hooks if not any(f"def {hook}(" in text for text in examples.values())] == []
    reference = (HOOK_EXAMPLES.parent.parent / "docs" / "hooks.rst").read_text()
    assert [name for name in examples if f".. literalinclude:: ../examples/hooks/{name}\n" not in reference] == []
