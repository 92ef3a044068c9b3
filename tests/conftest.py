import time

import pytest

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
