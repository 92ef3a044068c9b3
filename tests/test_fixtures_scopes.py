"""Every fixture scope with every kind of fixture, shared lifetimes, teardown
order across scopes, and xunit-style setup/teardown."""

import itertools

import pytest

KINDS = {
    "sync": "def {name}({deps}):\n    log('setup {name}')\n    return '{name}'\n",
    "syncgen": "def {name}({deps}):\n    log('setup {name}')\n    yield '{name}'\n    log('teardown {name}')\n",
    "async": "async def {name}({deps}):\n    await asyncio.sleep(0.01)\n    log('setup {name}')\n    return '{name}'\n",
    "asyncgen": (
        "async def {name}({deps}):\n    await asyncio.sleep(0.01)\n    log('setup {name}')\n    yield '{name}'\n"
        "    await asyncio.sleep(0.01)\n    log('teardown {name}')\n"
    ),
}
SCOPES = ["session", "package", "module", "class", "function"]


def _suite(kind_of_scope):
    """A chain session <- package <- module <- class <- function, each of the
    given kind, used by three concurrent tests in a class of a package."""
    source = ["import asyncio", "import pytest", "from pkg.events import log", ""]
    previous = ""
    for scope in SCOPES:
        name = f"{scope}_fix"
        source.append(f"@pytest.fixture(scope={scope!r})")
        source.append(KINDS[kind_of_scope[scope]].format(name=name, deps=previous))
        previous = name
    return "\n".join(source)


@pytest.mark.parametrize("combo", ["sync", "syncgen", "async", "asyncgen", "mixed1", "mixed2"])
def test_every_scope_with_every_kind(pytester, combo):
    if combo in KINDS:
        kinds = dict.fromkeys(SCOPES, combo)
    else:
        cycle = itertools.cycle(["asyncgen", "sync", "async", "syncgen"] if combo == "mixed1" else ["syncgen", "async", "sync", "asyncgen"])
        kinds = {scope: next(cycle) for scope in SCOPES}
    pkg = pytester.mkpydir("pkg")
    (pkg / "events.py").write_text("EVENTS = []\n\ndef log(event):\n    EVENTS.append(event)\n")
    (pkg / "conftest.py").write_text(_suite(kinds))
    (pkg / "test_chain.py").write_text(
        """
import asyncio
import pytest
from pkg.events import EVENTS


@pytest.mark.asyncio_cooperative
class TestChain:
    @pytest.mark.parametrize("n", range(3))
    async def test_uses_chain(self, function_fix, n):
        assert function_fix == "function_fix"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session", autouse=True)
def dump():
    yield
    with open("events.txt", "w") as f:
        f.write("\\n".join(EVENTS))
"""
    )
    pytester.runpytest().assert_outcomes(passed=3)
    events = (pytester.path / "events.txt").read_text().splitlines()
    setups = [e for e in events if e.startswith("setup")]
    for scope in ["session", "package", "module", "class"]:
        assert setups.count(f"setup {scope}_fix") == 1, events
    assert setups.count("setup function_fix") == 3
    generators = [s for s in SCOPES if kinds[s].endswith("gen")]
    for scope in generators:
        expected = 3 if scope == "function" else 1
        assert events.count(f"teardown {scope}_fix") == expected, events
    # Shared teardowns come after every test, innermost first.
    shared_teardowns = [e for e in events if e.startswith("teardown") and "function" not in e]
    assert shared_teardowns == [f"teardown {s}_fix" for s in ["class", "module", "package", "session"] if s in generators]
    assert events.index(shared_teardowns[0]) > max(i for i, e in enumerate(events) if e == "setup function_fix") if shared_teardowns else True


def test_fifty_concurrent_tests_set_up_a_shared_fixture_once(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        counts = {"setup": 0, "teardown": 0}

        @pytest.fixture(scope="session")
        async def shared():
            counts["setup"] += 1
            await asyncio.sleep(0.3)
            yield counts["setup"]
            counts["teardown"] += 1

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(50))
        async def test_n(shared, n):
            assert shared == 1 and counts == {"setup": 1, "teardown": 0}
            await asyncio.sleep(0.01)

        @pytest.fixture(scope="session", autouse=True)
        def check():
            yield
            assert counts == {"setup": 1, "teardown": 1}
            print("COUNTS OK")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=50)
    result.stdout.fnmatch_lines(["*COUNTS OK*"])


def test_upstream_71_one_task_at_a_time_shares_module_and_session_fixtures(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        events = []

        @pytest.fixture(scope="session")
        async def session_fix():
            events.append("setup session")
            yield "s"
            events.append("teardown session")

        @pytest.fixture(scope="module")
        async def module_fix(session_fix):
            events.append("setup module")
            yield "m"
            events.append("teardown module")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_n(module_fix, session_fix, n):
            await asyncio.sleep(0.05)
            assert module_fix == "m" and session_fix == "s"
            assert events == ["setup session", "setup module"]
        """
    )
    pytester.runpytest("--max-asyncio-tasks", "1").assert_outcomes(passed=3)


def test_cooperative_and_plain_tests_share_session_and_module_instances(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        made = []

        @pytest.fixture(scope="session")
        def session_fix():
            made.append("session")
            return object()

        @pytest.fixture(scope="module")
        def module_fix(session_fix):
            made.append("module")
            return object()

        seen = set()

        def test_plain(session_fix, module_fix):
            seen.add((id(session_fix), id(module_fix)))

        @pytest.mark.asyncio_cooperative
        async def test_coop(session_fix, module_fix):
            await asyncio.sleep(0.01)
            seen.add((id(session_fix), id(module_fix)))
            assert len(seen) == 1 and made == ["session", "module"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_xunit_setup_and_teardown_run_as_often_as_in_plain_pytest(pytester):
    source = """
        import asyncio
        import pytest

        calls = []

        def setup_module(module):
            calls.append("setup_module")

        def teardown_module(module):
            calls.append("teardown_module")

        {mark}
        class TestOne:
            @classmethod
            def setup_class(cls):
                calls.append("setup_class")

            @classmethod
            def teardown_class(cls):
                calls.append("teardown_class")

            def setup_method(self, method):
                calls.append("setup_method " + method.__name__)

            def teardown_method(self, method):
                calls.append("teardown_method " + method.__name__)

            {kw}def test_a(self):
                {wait}

            {kw}def test_b(self):
                {wait}

        @pytest.fixture(scope="session", autouse=True)
        def dump():
            yield
            print("CALLS", sorted(calls))
    """
    counts = []
    for mark, kw, wait in [("", "", "pass"), ("@pytest.mark.asyncio_cooperative", "async ", "await asyncio.sleep(0.05)")]:
        pytester.makepyfile(test_xunit=source.format(mark=mark, kw=kw, wait=wait))
        result = pytester.runpytest("-s")
        result.assert_outcomes(passed=2)
        (line,) = [line for line in result.outlines if "CALLS " in line]
        counts.append(line.split("CALLS ", 1)[1])
    assert counts[0] == counts[1]
