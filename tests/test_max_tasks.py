"""The cap on concurrently running tests."""

import pytest

CAPPED = """
import asyncio
import pytest

running = 0
peak = 0

@pytest.fixture
async def counted():
    global running, peak
    running += 1
    peak = max(peak, running)
    yield
    running -= 1

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(12))
async def test_body(counted, n):
    await asyncio.sleep(0.05 + (n % 3) * 0.05)

def pytest_sessionfinish():
    pass

@pytest.fixture(scope="session", autouse=True)
def report_peak():
    yield
    with open("peak.txt", "w") as f:
        f.write(str(peak))
"""


@pytest.mark.parametrize("cap", [1, 3, 5])
def test_never_more_than_the_cap_overlap(pytester, cap):
    pytester.makepyfile(CAPPED)
    result = pytester.runpytest("--max-asyncio-tasks", str(cap))
    result.assert_outcomes(passed=12)
    assert int((pytester.path / "peak.txt").read_text()) == cap


def test_cap_from_ini(pytester):
    pytester.makeini("[pytest]\nmax_asyncio_tasks = 2\n")
    pytester.makepyfile(CAPPED)
    pytester.runpytest().assert_outcomes(passed=12)
    assert int((pytester.path / "peak.txt").read_text()) == 2


def test_default_cap_lets_all_twelve_overlap(pytester):
    pytester.makepyfile(CAPPED)
    pytester.runpytest().assert_outcomes(passed=12)
    assert int((pytester.path / "peak.txt").read_text()) == 12


def test_tests_admitted_in_thousands_start_in_batches_and_sleepers_wake_on_time(pytester):
    # Under a cap of thousands, the loop still serves its timers between
    # batches of starting tests: a test that sleeps a little wakes long
    # before every other test has set up, and the tests that finish make
    # room rather than all being held in memory at once.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        started = 0
        seen = {}

        @pytest.fixture
        def count():
            global started
            started += 1

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(1500))
        async def test_t(count, n):
            if n == 0:
                await asyncio.sleep(0.001)
                seen["started when the first woke"] = started

        @pytest.fixture(scope="session", autouse=True)
        def report():
            yield
            with open("seen.txt", "w") as f:
                f.write(str(seen["started when the first woke"]))
        """
    )
    pytester.runpytest("--max-asyncio-tasks", "5000").assert_outcomes(passed=1500)
    assert int((pytester.path / "seen.txt").read_text()) < 750
