import asyncio
import os

import pytest

from pytest_asyncio_coop import Lock

cwd_lock = Lock("cwd")


@pytest.fixture
async def in_tmp_dir(tmp_path, monkeypatch):
    async with cwd_lock:
        monkeypatch.chdir(tmp_path)
        yield tmp_path
        monkeypatch.undo()  # before the lock is released


@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(3))
async def test_writes_here(in_tmp_dir, n):
    await asyncio.sleep(0.1)
    assert os.getcwd() == str(in_tmp_dir)
