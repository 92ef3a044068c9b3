"""Function-scoped fixtures of every kind in concurrent tests, and the
built-ins ``request``, ``tmp_path`` and ``monkeypatch``."""


def test_every_kind_of_function_fixture(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        events = []

        @pytest.fixture
        def plain(request):
            return f"plain-{request.node.name}"

        @pytest.fixture
        def sync_gen(plain):
            events.append(f"sync-setup {plain}")
            yield f"gen-{plain}"
            events.append(f"sync-teardown {plain}")

        @pytest.fixture
        async def coro(sync_gen):
            await asyncio.sleep(0.05)
            return f"coro-{sync_gen}"

        @pytest.fixture
        async def agen(coro, request):
            await asyncio.sleep(0.05)
            yield f"agen-{coro}"
            await asyncio.sleep(0.05)
            events.append(f"async-teardown {request.node.name}")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_chain(agen, request, n):
            await asyncio.sleep(0.2)
            assert agen == f"agen-coro-gen-plain-{request.node.name}"

        def test_zz_teardowns_ran():
            pass

        @pytest.mark.asyncio_cooperative
        async def test_zz_check():
            await asyncio.sleep(1)
            names = [f"test_chain[{n}]" for n in range(5)]
            assert sorted(e for e in events if e.startswith("async-teardown")) == [f"async-teardown {n}" for n in names]
            assert sorted(e for e in events if e.startswith("sync-teardown")) == [f"sync-teardown plain-{n}" for n in names]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=7)


def test_function_fixture_value_is_unique_per_concurrent_test(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import uuid
        import pytest

        seen = {}

        @pytest.fixture
        def ident():
            return uuid.uuid4()

        @pytest.fixture
        async def async_ident():
            await asyncio.sleep(0.01)
            return uuid.uuid4()

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(10))
        async def test_unique(ident, async_ident, request, n):
            seen[n] = (ident, async_ident)
            await asyncio.sleep(0.2)
            # Still ours after the others have set theirs up.
            assert request.getfixturevalue("ident") is ident
            assert seen[n] == (ident, async_ident)

        @pytest.mark.asyncio_cooperative
        async def test_zz_all_distinct():
            await asyncio.sleep(0.5)
            values = [v for pair in seen.values() for v in pair]
            assert len(values) == 20 and len(set(values)) == 20
        """
    )
    pytester.runpytest().assert_outcomes(passed=11)


def test_builtin_fixtures_request_tmp_path_monkeypatch(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import os
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_builtins(request, tmp_path, monkeypatch, n):
            assert request.node.name == f"test_builtins[{n}]"
            (tmp_path / "mine.txt").write_text(str(n))
            # Each test patches its own names: concurrent tests that patch the
            # same global race with each other, as documented.
            monkeypatch.setenv(f"COOP_N{n}", str(n))
            monkeypatch.setattr(os, f"coop_marker{n}", n, raising=False)
            await asyncio.sleep(0.2)
            assert os.environ[f"COOP_N{n}"] == str(n)
            assert (tmp_path / "mine.txt").read_text() == str(n)
            assert len(list(tmp_path.iterdir())) == 1

        @pytest.mark.asyncio_cooperative
        async def test_zz_undone():
            await asyncio.sleep(0.5)
            assert not [k for k in os.environ if k.startswith("COOP_N")]
            assert not [k for k in dir(os) if k.startswith("coop_marker")]
        """
    )
    pytester.runpytest().assert_outcomes(passed=6)


def test_async_fixture_outside_cooperative_test_is_a_clear_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def needs_loop():
            return 1

        def test_plain(needs_loop):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_coop(needs_loop):
            assert needs_loop == 1
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*async fixture 'needs_loop' was requested outside a cooperative test*"])


def test_fixture_errors_are_reported_at_the_right_phase(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def broken_setup():
            await asyncio.sleep(0.01)
            raise RuntimeError("setup went wrong")

        @pytest.fixture
        async def broken_teardown():
            yield
            await asyncio.sleep(0.01)
            raise RuntimeError("teardown went wrong")

        @pytest.fixture
        async def skipper():
            await asyncio.sleep(0.01)
            pytest.skip("no resource")

        @pytest.fixture
        async def two_yields():
            yield 1
            yield 2

        @pytest.mark.asyncio_cooperative
        async def test_setup_error(broken_setup):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_teardown_error(broken_teardown):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_skipped(skipper):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_two_yields(two_yields):
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, errors=3, skipped=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_setup_error*", "*RuntimeError: setup went wrong*"])
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_teardown_error*", "*RuntimeError: teardown went wrong*"])
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_two_yields*", "*more than one 'yield'*"])
    result.stdout.fnmatch_lines(["SKIPPED [[]1] test_fixture_errors_are_reported_at_the_right_phase.py:33: no resource"])


def test_class_based_async_fixtures_bind_to_the_test_instance(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        class TestWithFixtures:
            @pytest.fixture
            async def value(self):
                await asyncio.sleep(0.01)
                self.seen = "set by fixture"
                return 42

            async def test_uses(self, value):
                assert value == 42
                assert self.seen == "set by fixture"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_sync_fixture_runs_with_no_running_loop(pytester):
    # as under pytest-asyncio, which runs its loop only in the test's body and
    # its async fixtures: a sync fixture may run a loop of its own, also in
    # its teardown; async fixtures, shared ones waited for included, still
    # run on the session's loop
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def prepared():
            assert asyncio.run(asyncio.sleep(0.01, result=5)) == 5
            yield 5
            assert asyncio.run(asyncio.sleep(0.01, result=6)) == 6

        @pytest.fixture
        def own_loop():
            loop = asyncio.new_event_loop()
            yield loop.run_until_complete(asyncio.sleep(0, result=7))
            loop.close()

        @pytest.fixture(scope="module")
        async def shared():
            await asyncio.sleep(0.05)
            yield asyncio.get_running_loop()
            await asyncio.sleep(0.01)

        @pytest.fixture
        async def own(shared):
            await asyncio.sleep(0.01)
            return shared

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_uses_them(n, prepared, own_loop, own):
            assert (prepared, own_loop) == (5, 7)
            assert own is asyncio.get_running_loop()
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
