"""Fixture errors: what is reported where, what is still torn down, and what
is cached."""


def test_setup_error_is_an_error_with_the_fixtures_traceback_and_earlier_fixtures_are_torn_down(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        torn_down = []

        @pytest.fixture
        async def first():
            yield
            torn_down.append("first")

        @pytest.fixture
        def second():
            yield
            torn_down.append("second")

        @pytest.fixture
        async def broken(first, second):
            await asyncio.sleep(0.01)
            raise LookupError("no such row")

        @pytest.mark.asyncio_cooperative
        async def test_needs_broken(broken):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_zz_check():
            await asyncio.sleep(0.2)
            assert torn_down == ["second", "first"]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_needs_broken*",
            "*async def broken(first, second):*",
            '>       raise LookupError("no such row")',
            "E       LookupError: no such row",
        ]
    )


def test_shared_fixture_failure_is_cached_and_every_dependent_errors(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        calls = []

        @pytest.fixture(scope="module")
        async def broken_module():
            calls.append(1)
            await asyncio.sleep(0.05)
            raise OSError("down")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_dependent(broken_module, n):
            pass

        def test_zz_plain_dependent(broken_module):
            pass

        @pytest.fixture(scope="session", autouse=True)
        def check():
            yield
            print("CALLS", len(calls))
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines(["*CALLS 1*"])
    # The plain test cannot use it at all; the cooperative ones share one failure.
    result.stdout.fnmatch_lines(["*ERROR at setup of test_zz_plain_dependent*", "*outside a cooperative test*"])
    assert result.stdout.str().count("E       OSError: down") == 5


def test_teardown_error_is_an_error_of_the_test_that_triggered_it_and_keeps_its_outcome(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def bad_module_teardown():
            yield
            await asyncio.sleep(0.01)
            raise RuntimeError("module teardown failed")

        @pytest.fixture
        async def bad_function_teardown():
            yield
            raise RuntimeError("function teardown failed")

        @pytest.mark.asyncio_cooperative
        async def test_fails_itself(bad_function_teardown):
            assert False, "own failure"

        @pytest.mark.asyncio_cooperative
        async def test_short(bad_module_teardown):
            await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative
        async def test_long(bad_module_teardown):
            await asyncio.sleep(0.3)
        """
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=2, failed=1, errors=2)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_fails_itself*", "*function teardown failed*"])
    # the module is torn down by the last test that needed it
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_long*", "*module teardown failed*"])
    result.stdout.fnmatch_lines(["PASSED *::test_short"])
    result.stdout.fnmatch_lines(["FAILED *::test_fails_itself*"])


def test_skip_inside_a_fixture_skips(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def service():
            await asyncio.sleep(0.01)
            pytest.skip("service unavailable")

        @pytest.fixture
        def sync_skip():
            pytest.skip("not here")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_service(service, n):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_sync_skip(sync_skip):
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["SKIPPED [[]3[]] *: service unavailable"])
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: not here"])


def test_sync_cooperative_test_may_use_async_fixtures(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def value():
            await asyncio.sleep(0.01)
            yield 7
            await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        def test_sync(value):
            assert value == 7
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_unmarked_sync_test_requesting_an_async_fixture_is_told_how_to_fix_it(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def value():
            return 1

        def test_plain(value):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_coop():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_plain*",
            "*async fixture 'value' was requested outside a cooperative test; "
            "mark the test with @pytest.mark.asyncio_cooperative to use async fixtures*",
        ]
    )
