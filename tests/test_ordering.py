"""The order tests start in: longest first from last run's durations, and
unmarked sync tests overlapping cooperative ones."""

ORDERED = """
import asyncio
import pytest

DURATIONS = {"short": 0.05, "long": 0.4, "medium": 0.2}

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("name", ["short", "long", "medium"])
async def test_timed(name):
    with open("order.txt", "a") as f:
        f.write(name + "\\n")
    await asyncio.sleep(DURATIONS[name])
"""


def _order(pytester, *args):
    (pytester.path / "order.txt").unlink(missing_ok=True)
    pytester.runpytest("--max-asyncio-tasks", "1", "-p", "cacheprovider", *args).assert_outcomes(passed=3)
    return (pytester.path / "order.txt").read_text().split()


def test_second_run_starts_the_longest_tests_first(pytester):
    pytester.makepyfile(ORDERED)
    assert _order(pytester) == ["short", "long", "medium"]  # nothing known yet
    assert _order(pytester) == ["long", "medium", "short"]
    assert _order(pytester, "--asyncio-order=collection") == ["short", "long", "medium"]
    assert _order(pytester, "-o", "asyncio_order=collection") == ["short", "long", "medium"]


def test_an_order_asked_of_pytest_wins(pytester):
    pytester.makepyfile(ORDERED)
    _order(pytester)
    assert _order(pytester, "--ff") == ["short", "long", "medium"]


def test_new_tests_of_unknown_duration_go_first(pytester):
    pytester.makepyfile(ORDERED)
    _order(pytester)
    pytester.makepyfile(ORDERED.replace('["short", "long", "medium"]', '["short", "long", "medium", "new"]').replace(
        '"medium": 0.2}', '"medium": 0.2, "new": 0.01}'))
    (pytester.path / "order.txt").unlink(missing_ok=True)
    pytester.runpytest("--max-asyncio-tasks", "1", "-p", "cacheprovider").assert_outcomes(passed=4)
    assert (pytester.path / "order.txt").read_text().split() == ["new", "long", "medium", "short"]


OVERLAP = """
import asyncio
import time
import pytest

events = []

@pytest.mark.asyncio_cooperative
async def test_coop():
    events.append("coop starts")
    await asyncio.sleep(0.5)
    events.append("coop ends")

def test_sync():
    events.append("sync")
    time.sleep(0.3)  # holds the loop longer than the block threshold

@pytest.fixture(scope="session", autouse=True)
def report():
    yield
    print("EVENTS", events)
"""


def test_sync_tests_run_first_by_default(pytester):
    pytester.makepyfile(OVERLAP)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=2)
    assert "EVENTS ['sync', 'coop starts', 'coop ends']" in result.stdout.str()


def test_sync_tests_overlap_cooperative_ones_with_the_option(pytester):
    pytester.makepyfile(OVERLAP)
    result = pytester.runpytest("-s", "--asyncio-sync-tests=overlap")
    result.assert_outcomes(passed=2)
    # test_sync ran while test_coop slept, and took no part in the block report
    assert "EVENTS ['coop starts', 'sync', 'coop ends']" in result.stdout.str()
    assert "tests that blocked the event loop" not in result.stdout.str()
