"""``Lock``: created at import time, excludes the tests that share it."""


SHARED = """
import asyncio
import pytest
from pytest_asyncio_coop import Lock

my_lock = Lock()
inside = []

@pytest.fixture
async def lock():
    async with my_lock():
        yield

async def use_resource(name):
    inside.append(name)
    await asyncio.sleep(0.05)
    assert inside == [name], f"overlapping users: {{inside}}"
    await asyncio.sleep(0.05)
    inside.remove(name)

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(6))
async def test_user({args}n):
    await use_resource(n)
"""


def test_lock_gives_mutual_exclusion(pytester):
    pytester.makepyfile(SHARED.format(args="lock, "))
    pytester.runpytest().assert_outcomes(passed=6)


def test_without_the_lock_the_users_overlap(pytester):
    pytester.makepyfile(SHARED.format(args=""))
    result = pytester.runpytest()
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(["*overlapping users*"])


def test_lock_also_works_as_a_plain_async_context_manager(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_asyncio_coop import Lock

        lock = Lock()
        holders = []

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_user(n):
            assert not lock.locked() or holders
            async with lock:
                holders.append(n)
                assert lock.locked()
                await asyncio.sleep(0.05)
                assert holders == [n]
                holders.remove(n)
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)
