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
