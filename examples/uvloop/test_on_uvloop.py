import asyncio

import pytest


@pytest.mark.asyncio_cooperative
async def test_on_uvloop():
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
