"""pytest's built-in fixtures in cooperative tests."""

import xml.etree.ElementTree as ET
from pathlib import Path


def test_builtins_work_in_concurrent_tests(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_builtins(n, tmp_path, tmp_path_factory, pytestconfig, cache, record_property, request):
            (tmp_path / "own").write_text(str(n))
            shared = tmp_path_factory.mktemp(f"made{n}")
            assert pytestconfig.getoption("max_asyncio_tasks") is None
            cache.set(f"coop/{n}", n)
            record_property("n", n)
            await asyncio.sleep(0.05)
            assert (tmp_path / "own").read_text() == str(n)
            assert shared.exists() and shared.name.startswith(f"made{n}")
            assert cache.get(f"coop/{n}", None) == n

        @pytest.mark.asyncio_cooperative
        async def test_recwarn(recwarn):
            await asyncio.sleep(0.01)
            warnings.warn(UserWarning("recorded"))
            assert [str(w.message) for w in recwarn] == ["recorded"]
        """
    )
    result = pytester.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=5)
    properties = sorted(
        (case.get("name"), prop.get("value"))
        for case in ET.parse(pytester.path / "out.xml").iter("testcase")
        for prop in case.iter("property")
    )
    assert properties == [(f"test_builtins[{n}]", str(n)) for n in range(4)]


def test_the_docs_lock_pattern_isolates_chdir(pytester):
    """examples/locks/test_working_directory.py: each test sees its own
    directory, and the process's own is back afterwards."""
    example = Path(__file__).parent.parent / "examples" / "locks" / "test_working_directory.py"
    pytester.makepyfile(
        test_working_directory=example.read_text(),
        test_zz_restored="""
        import asyncio
        import os
        import pytest

        start = os.getcwd()

        @pytest.mark.asyncio_cooperative
        async def test_zz_restored():
            await asyncio.sleep(1)  # the others hold the lock for 0.1 s each
            assert os.getcwd() == start
        """,
    )
    pytester.runpytest().assert_outcomes(passed=4)
