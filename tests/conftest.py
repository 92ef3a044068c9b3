import time

import pytest

# Imported here, before pytester snapshots sys.modules, to save time: its
# in-process runs drop the modules first imported during a run, so each run
# would import them again (test_interop checks that this works).
import asyncio  # noqa: F401
import pytest_asyncio_coop.scheduler  # noqa: F401

pytest_plugins = ["pytester"]


# pytest-randomly would shuffle inner runs, pytest-asyncio would compete for
# async tests, and hypothesis's plugin costs most of a second per inner run.
INNER_ADDOPTS = "-p no:randomly -p no:asyncio -p no:hypothesispytest"


@pytest.fixture(autouse=True)
def _inner_runs_without_order_and_loop_plugins(request, monkeypatch):
    """Inner runs go without the plugins of INNER_ADDOPTS unless a test asks
    for them (tests of the interplay set PYTEST_ADDOPTS themselves). Set after
    pytester is made, since it clears PYTEST_ADDOPTS."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS)


class Timed:
    """A pytester run with its wall time."""

    def __init__(self, result, seconds):
        self.result = result
        self.seconds = seconds


@pytest.fixture
def run_timed(pytester):
    """Run pytest in-process on the pytester directory and time it."""

    def run(*args):
        start = time.monotonic()
        result = pytester.runpytest(*args)
        return Timed(result, time.monotonic() - start)

    return run
