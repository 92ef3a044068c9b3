"""Bad marker arguments are collection errors naming the test; an async test
without the marker gets pytest's message and a hint about this plugin."""

import pytest


@pytest.mark.parametrize(
    "arguments, problem",
    [
        ("timout=5", "unknown argument 'timout'; the marker accepts exclusive, timeout"),
        ("5", "the marker takes keyword arguments only"),
        ("timeout='5'", "the timeout must be a positive number of seconds"),
        ("timeout=0", "the timeout must be a positive number of seconds"),
        ("timeout=True", "the timeout must be a positive number of seconds"),
        ("timeout=float('inf')", "the timeout must be a positive number of seconds"),
        ("exclusive=1", "exclusive must be True or False"),
    ],
)
def test_a_bad_marker_argument_is_a_collection_error_of_that_test_only(pytester, arguments, problem):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.asyncio_cooperative({arguments})
        async def test_bad():
            pass

        @pytest.mark.asyncio_cooperative
        async def test_good():
            pass
        """
    )
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    name, _, value = arguments.rpartition("=")
    shown = f"{name}={eval(value)!r}" if name else arguments
    result.stdout.fnmatch_lines(
        [f"test_a_bad_marker_argument_is_a_collection_error_of_that_test_only.py::test_bad: asyncio_cooperative({shown}): {problem}"]
    )
    # without the option, pytest stops before running anything, as for any collection error
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["ERROR *::test_bad*", "*Interrupted: 1 error during collection*"])


def test_a_bad_marker_on_one_parameter_fails_only_that_instance(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize(
            "n", [1, pytest.param(2, marks=pytest.mark.asyncio_cooperative(timeout=-1)), 3]
        )
        async def test_n(n):
            pass
        """
    )
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*::test_n?2?: asyncio_cooperative(timeout=-1): the timeout must be a positive number*"])


def test_a_bad_marker_on_a_class_names_each_test(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(exclusive="yes")
        class TestGroup:
            async def test_a(self):
                pass

            async def test_b(self):
                pass
        """
    )
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*::TestGroup::test_a: asyncio_cooperative(exclusive='yes'): exclusive must be True or False",
            "*::TestGroup::test_b: asyncio_cooperative(exclusive='yes'): exclusive must be True or False",
        ]
    )


def test_a_marker_added_by_modifyitems_counts_and_a_bad_one_errors_at_that_tests_setup(pytester):
    # A conftest may mark tests in pytest_collection_modifyitems, after the
    # items were made: they are cooperative, their arguments count, and a bad
    # argument is an error of that test alone (collection is over by then).
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name != "test_marked_already":
                    item.add_marker(pytest.mark.asyncio_cooperative(timeout=0.5 if "slow" in item.name else "x" if "bad" in item.name else 60))
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_slow_times_out():
            await asyncio.sleep(5)

        async def test_bad_argument():
            pass

        async def test_fine():
            await asyncio.sleep(0)

        @pytest.mark.asyncio_cooperative(timeout=30)
        async def test_marked_already():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_bad_argument*",
            "test_a_marker_added_by_modifyitems_counts*.py::test_bad_argument: asyncio_cooperative(timeout='x'): "
            "the timeout must be a positive number of seconds",
        ]
    )
    result.stdout.fnmatch_lines(["E *TaskTimeout: timed out after 0.5 s (timeout on the marker = 0.5)*", "FAILED *::test_slow_times_out*"])


def test_a_raising_marker_options_hook_is_a_collection_error_naming_the_plugin(pytester):
    pytester.makeconftest(
        """
        from pytest_asyncio_coop import hookimpl

        @hookimpl
        def marker_options():
            raise RuntimeError("extension bug")
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_one():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*::test_one: hook marker_options of plugin 'conftest conftest.py' raised RuntimeError: extension bug"]
    )


def test_a_raising_check_is_a_collection_error_naming_the_plugin(pytester):
    pytester.makeconftest(
        """
        from pytest_asyncio_coop import hookimpl

        def check(value):
            raise KeyError(value)

        @hookimpl
        def marker_options():
            return {"db": check}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(db="main")
        async def test_one():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*::test_one: asyncio_cooperative(db='main'): the check of plugin 'conftest conftest.py' raised KeyError: 'main'"]
    )


@pytest.mark.parametrize(
    "source",
    [
        "async def test_unmarked():\n    pass\n",
        "class Awaitable:\n    def __await__(self):\n        yield\n\n\ndef test_unmarked():\n    return Awaitable()\n",
    ],
    ids=["async-def", "returns-an-awaitable"],
)
def test_an_unmarked_async_test_gets_pytests_message_and_a_hint(pytester, source):
    pytester.makepyfile(source)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*async def functions are not natively supported.",
            "*pytest-asyncio-coop is installed: mark the test @pytest.mark.asyncio_cooperative to run it on its "
            "event loop, or set asyncio_cooperative_mode = auto to make every async test cooperative.",
        ]
    )
    assert "was never awaited" not in result.stdout.str() + result.stderr.str()
