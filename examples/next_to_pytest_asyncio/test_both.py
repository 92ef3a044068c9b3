import asyncio

import pytest
import pytest_asyncio


@pytest_asyncio.fixture
async def server():
    await asyncio.sleep(0.01)
    return "server"


@pytest.mark.asyncio  # pytest-asyncio runs this test and its fixture, on its own loop
async def test_by_pytest_asyncio(server):
    assert server == "server"


@pytest.mark.asyncio_cooperative  # pytest-asyncio-coop runs this one, with the other cooperative tests
async def test_by_coop(server):
    assert server == "server"
