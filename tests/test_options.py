"""Bad option and ini values are usage errors that name the option."""

import pytest


@pytest.mark.parametrize("value", ["0", "-3", "many", "1.5"])
def test_bad_max_tasks_option(pytester, value):
    result = pytester.runpytest("--max-asyncio-tasks", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument --max-asyncio-tasks: expected a whole number of at least 1, got '{value}'*"])


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_bad_timeout_option(pytester, value):
    result = pytester.runpytest("--asyncio-task-timeout", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument --asyncio-task-timeout: expected a positive number of seconds, got '{value}'*"])


@pytest.mark.parametrize(
    "ini, message",
    [
        ("max_asyncio_tasks = 0", "ini option max_asyncio_tasks: expected a whole number of at least 1, got '0'"),
        ("asyncio_task_timeout = never", "ini option asyncio_task_timeout: expected a positive number of seconds, got 'never'"),
    ],
)
def test_bad_ini_values(pytester, ini, message):
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_fractional_timeout_is_accepted(pytester):
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest("--asyncio-task-timeout", "0.25").assert_outcomes(passed=1)
