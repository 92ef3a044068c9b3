import asyncio
import time

import pytest


async def fetch():
    await asyncio.sleep(5)


@pytest.mark.asyncio_cooperative(timeout=1)
async def test_hangs():
    await fetch()


def parse_everything():
    time.sleep(0.4)


@pytest.mark.asyncio_cooperative
async def test_blocks():
    await asyncio.sleep(0.1)
    parse_everything()


async def poll_forever():
    while True:
        await asyncio.sleep(1)


@pytest.mark.asyncio_cooperative
async def test_leaks():
    asyncio.create_task(poll_forever())
