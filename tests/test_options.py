"""Bad option and ini values are usage errors that name the option and what
it accepts."""

import pytest

NUMBERS = {
    "max_asyncio_tasks": (["0", "-3", "many", "1.5", ""], "expected a whole number of at least 1"),
    "asyncio_task_timeout": (["0", "-1", "soon", "inf", "nan", ""], "expected a positive number of seconds"),
    "asyncio_block_threshold": (["0", "-0.5", "quick", "inf"], "expected a positive number of seconds"),
}
WORDS = {
    "asyncio_cooperative_mode": ("strict", "auto"),
    "asyncio_blocking": ("report", "error"),
    "asyncio_leaks": ("warn", "error", "ignore"),
    "asyncio_order": ("duration", "collection"),
    "asyncio_sync_tests": ("first", "overlap"),
}
NUMBER_CASES = [(name, value, accepted) for name, (values, accepted) in NUMBERS.items() for value in values]


def option(name):
    return "--" + name.replace("_", "-")


def test_every_setting_is_covered():
    from pytest_asyncio_coop.plugin import _OPTIONS

    assert sorted(name for name, *_ in _OPTIONS) == sorted([*NUMBERS, *WORDS])


@pytest.mark.parametrize("name, value, accepted", NUMBER_CASES)
def test_bad_number_option(pytester, name, value, accepted):
    result = pytester.runpytest(f"{option(name)}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument {option(name)}: {accepted}, got '{value}'*"])


@pytest.mark.parametrize("name, value, accepted", NUMBER_CASES)
def test_bad_number_ini(pytester, name, value, accepted):
    pytester.makeini(f"[pytest]\n{name} = {value}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*ini option {name}: {accepted}, got '{value}'*"])


@pytest.mark.parametrize("name", sorted(WORDS))
def test_bad_word_option(pytester, name):
    result = pytester.runpytest(option(name), "bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # argparse's wording; the accepted words are quoted on older Pythons
    accepted = "*, *".join(WORDS[name])
    result.stderr.fnmatch_lines([f"*argument {option(name)}: invalid choice: 'bogus' (choose from *{accepted}*)"])


@pytest.mark.parametrize("name", sorted(WORDS))
def test_bad_word_ini(pytester, name):
    pytester.makeini(f"[pytest]\n{name} = bogus\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*ini option {name}: expected one of {', '.join(WORDS[name])}, got 'bogus'*"])


def test_the_option_wins_over_the_ini_file(pytester):
    pytester.makeini("[pytest]\nmax_asyncio_tasks = 0\n")
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest("--max-asyncio-tasks", "3").assert_outcomes(passed=1)


def test_fractional_timeout_is_accepted(pytester):
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest("--asyncio-task-timeout", "0.25").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "factory, problem",
    [
        ("no_such_module_xyz.new_loop", "cannot use 'no_such_module_xyz.new_loop' (No module named 'no_such_module_xyz')"),
        ("asyncio.no_such_factory", "cannot use 'asyncio.no_such_factory' (module 'asyncio' has no attribute 'no_such_factory')"),
        ("asyncio.__name__", "cannot use 'asyncio.__name__' ('asyncio' is not callable)"),
        ("new_event_loop", "cannot use 'new_event_loop' (not a dotted path, module.name)"),
    ],
)
def test_bad_loop_factory(pytester, factory, problem):
    pytester.makeini(f"[pytest]\nasyncio_loop_factory = {factory}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*ini option asyncio_loop_factory: {problem}*; give the dotted path of a callable that returns "
            "a new event loop, e.g. uvloop.new_event_loop"
        ]
    )


@pytest.mark.parametrize(
    "body, problem",
    [
        ("return 42", "make_event_loop returned 42, not an event loop"),
        ("raise OSError('no more file descriptors')", "*raised OSError: no more file descriptors"),
    ],
)
def test_a_loop_factory_that_makes_no_loop_errors_every_cooperative_test(pytester, body, problem):
    pytester.makepyfile(
        factory=f"""
        def make():
            {body}
        """
    )
    pytester.syspathinsert()
    pytester.makeini("[pytest]\nasyncio_loop_factory = factory.make\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_n(n):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines([f"*{problem}"])
