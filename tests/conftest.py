import time

import pytest

# Imported here, before pytester snapshots sys.modules: its in-process runs drop
# modules first imported during a run, while the package keeps references to
# them, which would leave two copies of asyncio and of this plugin's modules.
import asyncio  # noqa: F401
import pytest_asyncio_coop.scheduler  # noqa: F401

pytest_plugins = ["pytester"]


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
