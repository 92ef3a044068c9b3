"""The examples under examples/, which the docs show, work as the docs say."""

import re
import shutil
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def copy_example(pytester, name):
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)


def shown_output(name):
    """The output an example's output.txt shows, as fnmatch patterns: its
    first line is the command, '...' stands for what was left out, and
    times may differ."""
    patterns = []
    for line in (EXAMPLES / name / "output.txt").read_text().splitlines()[1:]:
        if line != "...":
            line = line.replace("[", "[[]").replace("...", "*")
            patterns.append(re.sub(r"\d+\.\d+( ?s)", r"*\1", line))
    return patterns


def test_quickstart_seed_runs_its_two_tests_at_once(pytester):
    copy_example(pytester, "quickstart")
    start = time.monotonic()
    result = pytester.runpytest("-v", "test_seed.py")
    assert time.monotonic() - start < 3.5  # two 2-second tests
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(shown_output("quickstart"))


def test_diagnostics_output_is_as_shown(pytester):
    copy_example(pytester, "diagnostics")
    result = pytester.runpytest("test_hangs_blocks_leaks.py")
    result.assert_outcomes(passed=2, failed=1, warnings=1)
    result.stdout.fnmatch_lines(shown_output("diagnostics"))


def test_lock_examples_serialise_their_users(pytester):
    copy_example(pytester, "locks")
    start = time.monotonic()
    result = pytester.runpytest("-v")
    assert time.monotonic() - start >= 0.3  # three 0.1 s holds of each lock, one at a time
    result.assert_outcomes(passed=6)


def test_a_pytest_asyncio_cooperative_suite_runs_with_the_import_changed(pytester):
    copy_example(pytester, "from_cooperative")
    result = pytester.runpytest("--strict-markers", "--strict-config")
    assert result.parseoutcomes() == {"passed": 5, "rerun": 1}


@pytest.mark.parametrize("pytest_asyncio", ["active", "disabled"])
def test_a_pytest_asyncio_suite_runs_unchanged_in_auto_mode(pytester, monkeypatch, pytest_asyncio):
    if pytest_asyncio == "active":
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    copy_example(pytester, "from_pytest_asyncio")
    start = time.monotonic()
    result = pytester.runpytest("--strict-markers", "--strict-config")
    assert time.monotonic() - start < 2.5  # ten 0.5 s tests at once
    result.assert_outcomes(passed=11)
    result.stdout.fnmatch_lines(["cooperative: 10 tests in *"])


def test_next_to_pytest_asyncio_each_runs_its_own_tests(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")  # pytest-asyncio active
    copy_example(pytester, "next_to_pytest_asyncio")
    result = pytester.runpytest("--strict-markers", "--strict-config")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["cooperative: 1 test in *"])


def test_uvloop_example(pytester):
    pytest.importorskip("uvloop")
    copy_example(pytester, "uvloop")
    pytester.runpytest("--strict-config").assert_outcomes(passed=1)


def test_configuration_example_sets_every_setting(pytester):
    from pytest_asyncio_coop import Settings
    from pytest_asyncio_coop.plugin import _OPTIONS, auto_mode, settings

    copy_example(pytester, "configuration")
    keys = [line.split(" = ")[0] for line in (pytester.path / "pytest.ini").read_text().splitlines() if " = " in line]
    assert sorted(keys) == sorted([name for name, *_ in _OPTIONS] + ["asyncio_loop_factory"])
    config = pytester.parseconfigure()
    assert auto_mode(config)
    assert settings(config) == Settings(
        max_tasks=20, task_timeout=30, loop_factory="asyncio.new_event_loop", block_threshold=0.1,
        blocking="error", leaks="error", order="collection", sync_tests="overlap",
    )


def test_resource_limits_extension_caps_each_resource(pytester):
    pytester.syspathinsert(EXAMPLES / "resource_limits")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        active = {"db": 0, None: 0}
        peak = {"db": 0, "all": 0}

        async def use(resource):
            active[resource] += 1
            peak["db"] = max(peak["db"], active["db"])
            peak["all"] = max(peak["all"], active["db"] + active[None])
            await asyncio.sleep(0.1)
            active[resource] -= 1

        @pytest.mark.asyncio_cooperative(resource="db")
        @pytest.mark.parametrize("n", range(6))
        async def test_db(n):
            await use("db")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_other(n):
            await use(None)

        @pytest.fixture(scope="session", autouse=True)
        def show_peak():
            yield
            print("PEAK", peak["db"], peak["all"])
        """
    )
    result = pytester.runpytest("-p", "coop_resource_limits", "-s")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*PEAK 2 6*"])


def test_resource_limits_entry_point_names_the_module():
    import configparser

    setup = configparser.ConfigParser()
    setup.read(EXAMPLES / "resource_limits" / "setup.cfg")
    entry_points = setup["options.entry_points"]["pytest_asyncio_coop"].split()
    assert entry_points == ["resource_limits", "=", "coop_resource_limits"]
    assert setup["options"]["py_modules"].strip() == "coop_resource_limits"


def test_resource_limits_extension_checks_its_marker_argument(pytester):
    pytester.syspathinsert(EXAMPLES / "resource_limits")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(resource=3)
        async def test_db():
            pass
        """
    )
    result = pytester.runpytest("-p", "coop_resource_limits")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_db: asyncio_cooperative(resource=3): resource must be the name of a resource, a str"]
    )

