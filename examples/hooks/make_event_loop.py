# conftest.py: run the cooperative tests on a loop in asyncio's debug mode,
# which logs callbacks slower than the block threshold and never-awaited
# coroutines.
import asyncio

from pytest_asyncio_coop import hookimpl


@hookimpl
def make_event_loop(settings):
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = settings.block_threshold
    return loop
