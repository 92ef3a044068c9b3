# A pytest-asyncio-cooperative suite; only the Lock import changed.
import asyncio

import pytest

from pytest_asyncio_coop import Lock  # was: from pytest_asyncio_cooperative import Lock

db_lock = Lock()
attempts = []


@pytest.fixture
async def db():
    async with db_lock():
        yield "db"


@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(3))
async def test_query(db, n):
    await asyncio.sleep(0.2)


@pytest.mark.asyncio_cooperative
async def test_fetch():
    await asyncio.sleep(0.2)


@pytest.mark.flakey
@pytest.mark.asyncio_cooperative
async def test_fails_once():
    attempts.append(1)
    assert len(attempts) == 2  # passes when run again
