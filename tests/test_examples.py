"""The example extension under examples/ works as its README says."""

from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "examples" / "resource_limits"


def test_resource_limits_extension_caps_each_resource(pytester):
    pytester.syspathinsert(EXAMPLE)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        active = {"db": 0, None: 0}
        peak = {"db": 0, "all": 0}

        async def use(resource):
            active[resource] += 1
            peak["db"] = max(peak["db"], active["db"])
            peak["all"] = max(peak["all"], active["db"] + active[None])
            await asyncio.sleep(0.1)
            active[resource] -= 1

        @pytest.mark.asyncio_cooperative(resource="db")
        @pytest.mark.parametrize("n", range(6))
        async def test_db(n):
            await use("db")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_other(n):
            await use(None)

        @pytest.fixture(scope="session", autouse=True)
        def show_peak():
            yield
            print("PEAK", peak["db"], peak["all"])
        """
    )
    result = pytester.runpytest("-p", "coop_resource_limits", "-s")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*PEAK 2 6*"])


def test_resource_limits_extension_checks_its_marker_argument(pytester):
    pytester.syspathinsert(EXAMPLE)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(resource=3)
        async def test_db():
            pass
        """
    )
    result = pytester.runpytest("-p", "coop_resource_limits")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_db: asyncio_cooperative(resource=3): resource must be the name of a resource, a str"]
    )
