# A pytest-asyncio suite, unchanged.
import asyncio

import pytest
import pytest_asyncio


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client():
    await asyncio.sleep(0.1)
    yield "client"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("n", range(5))
async def test_marked(client, n):
    await asyncio.sleep(0.5)


@pytest.mark.parametrize("n", range(5))
async def test_unmarked(client, n):  # pytest-asyncio's asyncio_mode = auto style
    await asyncio.sleep(0.5)


def test_sync():
    assert True
