import asyncio

import pytest

from pytest_asyncio_coop import Lock

# Made at import time, before any event loop exists.
printer_lock = Lock("printer")


@pytest.fixture
async def printer():
    async with printer_lock():  # or: async with printer_lock:
        yield "the one printer"


@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("page", range(3))
async def test_print(printer, page):
    await asyncio.sleep(0.1)  # only one test holds the printer meanwhile
