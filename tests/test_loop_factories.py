"""Auto mode and pytest-asyncio's ``pytest_asyncio_loop_factories`` hook: the
one factory it gives the cooperative tests makes the session's loop, with or
without pytest-asyncio installed; more than one is a usage error."""

import pytest

LOOPS = """
import asyncio

class LoopA(asyncio.SelectorEventLoop):
    pass

class LoopB(asyncio.SelectorEventLoop):
    pass
"""

# which loop each test ran on, checked by name
TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_marked():
    print("test_marked ON", type(asyncio.get_running_loop()).__name__)

async def test_unmarked():
    print("test_unmarked ON", type(asyncio.get_running_loop()).__name__)
"""

WITH_PYTEST_ASYNCIO = "-p no:randomly"  # pytest-asyncio installed and loaded, then unregistered by auto mode
WITHOUT = "-p no:randomly -p no:asyncio"


def conftest(result: str) -> str:
    return f"""
from loops import LoopA, LoopB

def pytest_asyncio_loop_factories(config, item):
    return {result}
"""


def setup(pytester, result, tests=TESTS):
    pytester.syspathinsert()
    pytester.makepyfile(loops=LOOPS, test_it=tests)
    pytester.makeconftest(conftest(result))


def run(pytester, *args):
    return pytester.runpytest("--asyncio-cooperative-mode=auto", "-s", "-p", "no:cacheprovider", *args)


def assert_usage_error(pytester, message):
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


@pytest.mark.parametrize("addopts", [WITH_PYTEST_ASYNCIO, WITHOUT], ids=["with-pytest-asyncio", "without"])
def test_the_hooks_one_factory_makes_the_session_loop(pytester, monkeypatch, addopts):
    monkeypatch.setenv("PYTEST_ADDOPTS", addopts)
    setup(pytester, '{"a": LoopA}')
    pytester.makeconftest(
        conftest('{"a": LoopA}')
        + """
def pytest_configure(config):
    spec = config.pluginmanager.hook.pytest_asyncio_loop_factories.spec
    print("SPEC", spec.namespace.__qualname__, spec.opts["firstresult"], spec.argnames)
"""
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    # pytest-asyncio's own hookspec when it is installed, the stand-in's without
    spec = "PytestAsyncioSpecs" if addopts == WITH_PYTEST_ASYNCIO else "LoopFactoriesSpec"
    result.stdout.fnmatch_lines([f"SPEC {spec} True ('config', 'item')"])
    result.stdout.fnmatch_lines(["test_marked ON LoopA"])
    result.stdout.fnmatch_lines(["test_unmarked ON LoopA"])  # names unchanged


@pytest.mark.parametrize("value", ["None", "{}", "[('a', LoopA)]", "{'': LoopA}", "{'a': 1}", "{1: LoopA}"])
def test_a_bad_result_is_pytest_asyncios_usage_error(pytester, value):
    setup(pytester, value)
    assert_usage_error(
        pytester,
        "pytest_asyncio_loop_factories must return a non-empty mapping of factory names to callables.",
    )


def test_two_factories_are_a_usage_error(pytester):
    setup(pytester, '{"a": LoopA, "b": LoopB}')
    assert_usage_error(
        pytester,
        "cooperative tests share one event loop, but pytest_asyncio_loop_factories gives them 2 "
        "different loop factories: 'a' (for test_it.py::test_marked), 'b' (for test_it.py::test_marked). "
        "Return one factory from the hook, select one per test with "
        "@pytest.mark.asyncio(loop_factories=[...]), or leave these tests to pytest-asyncio "
        "(asyncio_cooperative_mode = strict).",
    )


def test_different_conftests_giving_different_factories_are_a_usage_error(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(loops=LOOPS)
    for sub, loop in [("one", "LoopA"), ("two", "LoopB")]:
        pytester.mkpydir(sub)
        (pytester.path / sub / "conftest.py").write_text(conftest(f'{{"custom": {loop}}}'))
        (pytester.path / sub / f"test_{sub}.py").write_text(TESTS)
    assert_usage_error(
        pytester,
        "cooperative tests share one event loop, but pytest_asyncio_loop_factories gives them 2 "
        "different loop factories: 'custom' (for one/test_one.py::test_marked), "
        "'custom' (for two/test_two.py::test_marked).*",
    )


@pytest.mark.parametrize("made", ["functools.partial(LoopA)", "lambda: LoopA()"])
def test_a_factory_made_afresh_for_each_test_is_one_factory(pytester, made):
    setup(pytester, "{'a': " + made + "}")
    pytester.makeconftest("import functools\n" + conftest("{'a': " + made + "}"))
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_marked ON LoopA"])
    result.stdout.fnmatch_lines(["test_unmarked ON LoopA"])


def test_the_marker_selects_one_of_several_factories(pytester):
    tests = TESTS.replace("@pytest.mark.asyncio\n", "@pytest.mark.asyncio(loop_factories=['b'])\n")
    setup(pytester, '{"a": LoopA, "b": LoopB}', tests + "pytestmark = pytest.mark.asyncio(loop_factories=['b'])\n")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_marked ON LoopB"])
    result.stdout.fnmatch_lines(["test_unmarked ON LoopB"])


def test_a_marker_selecting_an_unavailable_factory_skips_the_test(pytester):
    setup(
        pytester,
        '{"a": LoopA, "c": LoopA}',
        TESTS
        + """
@pytest.mark.asyncio(loop_factories=["nope"])
async def test_elsewhere():
    raise AssertionError("not run")
""",
    )
    result = run(pytester, "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1] test_it.py:*: Loop factory 'nope' is not available. Available factories: a, c."]
    )


@pytest.mark.parametrize(
    "value, problem",
    [
        ("'a'", "must be a non-empty sequence of strings."),
        ("[]", "must be a non-empty sequence of strings."),
        ("['a', '']", "must be a non-empty sequence of strings."),
    ],
)
def test_a_bad_marker_value_is_an_error_of_that_test(pytester, value, problem):
    setup(pytester, '{"a": LoopA}', TESTS + f"\n@pytest.mark.asyncio(loop_factories={value})\nasync def test_bad():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_bad*", f"test_it.py::test_bad: mark.asyncio 'loop_factories' {problem}"]
    )


def test_a_marker_selection_without_a_hookimpl_is_an_error_of_that_test(pytester):
    pytester.makepyfile(TESTS + "\n@pytest.mark.asyncio(loop_factories=['a'])\nasync def test_bad():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_bad*",
            "test_*.py::test_bad: mark.asyncio 'loop_factories' requires at least one "
            "pytest_asyncio_loop_factories hook implementation.",
        ]
    )


def test_a_conftest_in_a_subdirectory_makes_the_loop_of_every_cooperative_test(pytester):
    """Tests no hookimpl applies to do not constrain the loop; they share it."""
    pytester.syspathinsert()
    pytester.makepyfile(loops=LOOPS, test_top=TESTS)
    pytester.mkpydir("sub")
    (pytester.path / "sub" / "conftest.py").write_text(conftest('{"custom": LoopB}'))
    (pytester.path / "sub" / "test_sub.py").write_text(TESTS)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["test_marked ON LoopB"])
    result.stdout.fnmatch_lines(["test_marked ON LoopB"])


def test_the_ini_option_and_the_hook_naming_different_factories_are_a_usage_error(pytester):
    setup(pytester, '{"a": LoopA}')
    pytester.makeini("[pytest]\nasyncio_loop_factory = loops.LoopB\n")
    assert_usage_error(
        pytester,
        "two event loop factories for the one loop of the cooperative tests: ini option "
        "asyncio_loop_factory = loops.LoopB, and 'a' (<class 'loops.LoopA'>) from "
        "pytest_asyncio_loop_factories (for test_it.py::test_marked); keep one of them.",
    )
    pytester.makeini("[pytest]\nasyncio_loop_factory = loops.LoopA\n")
    run(pytester).assert_outcomes(passed=2)


def test_a_make_event_loop_hookimpl_wins_over_the_hooks_factory(pytester):
    setup(pytester, '{"a": LoopA}')
    pytester.makeconftest(
        conftest('{"a": LoopA}')
        + """
from pytest_asyncio_coop import hookimpl

@hookimpl
def make_event_loop(settings):
    assert settings.pytest_asyncio_loop_factory is LoopA
    return LoopB()
"""
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_marked ON LoopB"])


def test_a_hookimpl_that_raises_is_an_error_of_the_test_naming_the_plugin(pytester):
    setup(pytester, "1 / 0")
    result = run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*test_it.py::test_marked: pytest_asyncio_loop_factories (from *conftest.py) raised ZeroDivisionError*"]
    )
