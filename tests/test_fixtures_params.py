"""Parametrization, overrides and fixture resolution behave as in plain pytest."""

import re



def _same_as_plain_pytest(pytester, body, *args):
    """Run ``body`` cooperatively, and made synchronous as plain tests; both
    must agree."""
    results = []
    for coop in (False, True):
        header = "import asyncio\nimport pytest\n"
        if coop:
            header += "pytestmark = pytest.mark.asyncio_cooperative\n"
            source = body
        else:
            source = re.sub(r"await asyncio\.sleep\([^)]*\)", "pass", body.replace("async def", "def"))
        pytester.makepyfile(test_body=header + source)
        result = pytester.runpytest("-v", "-p", "no:randomly", *args)
        outcomes = sorted(line.split(" ", 1) for line in result.outlines if line.startswith("test_body.py::"))
        results.append((result.parseoutcomes(), [o for o in outcomes]))
    assert results[0] == results[1]
    return results[1]


def test_params_fixtures_with_ids_and_marks(pytester):
    parsed, lines = _same_as_plain_pytest(
        pytester,
        """
@pytest.fixture(params=[1, 2, pytest.param(3, marks=pytest.mark.xfail(strict=True)), pytest.param(4, marks=pytest.mark.skip)], ids=["one", "two", "three", "four"])
def number(request):
    return request.param

async def test_small(number):
    assert number < 3
""",
    )
    assert parsed == {"passed": 2, "xfailed": 1, "skipped": 1}
    assert [name for name, _ in lines] == [
        "test_body.py::test_small[four]",
        "test_body.py::test_small[one]",
        "test_body.py::test_small[three]",
        "test_body.py::test_small[two]",
    ]


def test_indirect_parametrization(pytester):
    parsed, _ = _same_as_plain_pytest(
        pytester,
        """
@pytest.fixture
async def doubled(request):
    await asyncio.sleep(0.01)
    return request.param * 2

@pytest.mark.parametrize("doubled, expected", [(1, 2), (5, 10)], indirect=["doubled"])
async def test_doubled(doubled, expected):
    assert doubled == expected
""",
    )
    assert parsed == {"passed": 2}


def test_upstream_46_module_fixture_params_are_all_seen(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        setups = []
        seen = []

        @pytest.fixture(scope="module", params=["A", "B"])
        async def letter(request):
            setups.append(request.param)
            await asyncio.sleep(0.05)
            yield request.param

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_letter(letter, n, request):
            assert letter == request.node.callspec.params["letter"]
            await asyncio.sleep(0.05)
            assert letter == request.node.callspec.params["letter"]
            seen.append(letter)

        @pytest.fixture(scope="session", autouse=True)
        def check():
            yield
            assert sorted(seen) == ["A", "A", "A", "B", "B", "B"]
            assert sorted(setups) == ["A", "B"]
            print("PARAMS OK")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*PARAMS OK*"])


def test_shared_fixture_depending_on_a_parametrized_one_follows_its_param(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module", params=["x", "y"])
        def base(request):
            return request.param

        @pytest.fixture(scope="module")
        async def derived(base):
            await asyncio.sleep(0.02)
            return base.upper()

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(2))
        async def test_derived(derived, base, n):
            await asyncio.sleep(0.02)
            assert derived == base.upper()
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_overrides_nearest_definition_wins_and_can_extend_the_overridden(pytester):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def value():
            return "conftest"

        @pytest.fixture
        async def chained():
            return ["conftest"]
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def chained(chained):
            await asyncio.sleep(0.01)
            return chained + ["module"]

        @pytest.mark.asyncio_cooperative
        async def test_module_level(value, chained):
            assert value == "conftest"
            assert chained == ["conftest", "module"]

        @pytest.mark.asyncio_cooperative
        class TestOverride:
            @pytest.fixture
            def value(self, value):
                return value + "+class"

            @pytest.fixture
            async def chained(self, chained):
                return chained + ["class"]

            async def test_in_class(self, value, chained):
                await asyncio.sleep(0.01)
                assert value == "conftest+class"
                assert chained == ["conftest", "module", "class"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_getfixturevalue_in_sync_fixture_async_fixture_and_async_test(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def async_base():
            await asyncio.sleep(0.01)
            return "base"

        @pytest.fixture
        def sync_dynamic(request):
            return "sync:" + request.getfixturevalue("async_base")

        @pytest.fixture
        async def async_dynamic(request):
            await asyncio.sleep(0.01)
            return "async:" + request.getfixturevalue("async_base")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_dynamic(request, n):
            assert request.getfixturevalue("sync_dynamic") == "sync:base"
            await asyncio.sleep(0.01)
            assert request.getfixturevalue("async_dynamic") == "async:base"
            assert request.getfixturevalue("tmp_path").exists()
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_usefixtures_and_autouse_at_every_level(pytester):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(autouse=True)
        def conftest_auto(request):
            request.node.stash.setdefault(marks, []).append("conftest-auto")

        marks = pytest.StashKey[list]()
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import marks

        @pytest.fixture(autouse=True)
        async def module_auto(request):
            request.node.stash.setdefault(marks, []).append("module-auto")

        @pytest.fixture
        async def used(request):
            await asyncio.sleep(0.01)
            request.node.stash.setdefault(marks, []).append("usefixtures")

        pytestmark = [pytest.mark.usefixtures("used"), pytest.mark.asyncio_cooperative]

        async def test_module(request):
            assert request.node.stash[marks] == ["conftest-auto", "module-auto", "usefixtures"]

        class TestClass:
            @pytest.fixture(autouse=True)
            async def class_auto(self, request):
                request.node.stash.setdefault(marks, []).append("class-auto")

            async def test_class(self, request):
                assert sorted(request.node.stash[marks]) == ["class-auto", "conftest-auto", "module-auto", "usefixtures"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_request_attributes_are_the_fixtures_own(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module", params=["p"])
        async def mod_fix(request):
            await asyncio.sleep(0.01)
            return (request.scope, request.fixturename, type(request.node).__name__, request.param)

        @pytest.fixture(scope="class")
        def cls_fix(request):
            return (request.scope, request.fixturename, type(request.node).__name__)

        @pytest.fixture
        async def fn_fix(request):
            return (request.scope, request.fixturename, request.node.name)

        @pytest.mark.asyncio_cooperative
        class TestRequest:
            async def test_it(self, mod_fix, cls_fix, fn_fix, request):
                assert mod_fix == ("module", "mod_fix", "Module", "p")
                assert cls_fix == ("class", "cls_fix", "Class")
                assert fn_fix == ("function", "fn_fix", "test_it[p]")
                assert request.scope == "function" and request.fixturename is None
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_class_based_tests_with_method_fixtures_setting_self(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        class TestState:
            @pytest.fixture(autouse=True)
            async def prepare(self):
                await asyncio.sleep(0.01)
                self.ready = True
                self.items = []

            @pytest.fixture
            def helper(self):
                self.items.append("helper")
                return self

            @pytest.mark.parametrize("n", range(3))
            async def test_state(self, helper, n):
                assert helper is self and self.ready and self.items == ["helper"]
                await asyncio.sleep(0.01)
                self.items.append(n)
                assert self.items == ["helper", n]
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_context_variables_from_fixtures(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        var = contextvars.ContextVar("var", default="unset")
        teardowns = []

        @pytest.fixture
        def sync_sets(request):
            token = var.set("sync:" + request.node.name)
            yield
            teardowns.append(var.get() == "sync:" + request.node.name)
            var.reset(token)

        @pytest.fixture
        async def async_sets(request):
            token = var.set("async:" + request.node.name)
            yield
            await asyncio.sleep(0.01)
            teardowns.append(var.get() == "async:" + request.node.name)
            var.reset(token)

        shared = contextvars.ContextVar("shared", default="unset")

        @pytest.fixture(scope="session")
        async def session_sets():
            token = shared.set("session")
            yield
            await asyncio.sleep(0.01)
            teardowns.append(shared.get() == "session")
            shared.reset(token)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_sync_fixture_var(sync_sets, request, n):
            await asyncio.sleep(0.02 * (n % 2))
            assert var.get() == "sync:" + request.node.name

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_async_fixture_var(async_sets, session_sets, request, n):
            await asyncio.sleep(0.02 * (n % 2))
            assert var.get() == "async:" + request.node.name
            assert shared.get() == "session"

        @pytest.mark.asyncio_cooperative
        async def test_sees_none_of_it():
            await asyncio.sleep(0.03)
            assert var.get() == "unset"

        def test_zz_plain():
            pass

        @pytest.fixture(scope="session", autouse=True)
        def check():
            yield
            assert teardowns == [True] * 11, teardowns
            print("TEARDOWNS OK")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*TEARDOWNS OK*"])


def test_same_param_index_from_different_parametrizations_are_different_instances(pytester):
    pytester.makeconftest(
        """
        closed = []

        import pytest

        @pytest.fixture(scope="session")
        async def backend(request):
            yield request.param
            closed.append(request.param)
        """
    )
    body = """
import asyncio
import pytest
from conftest import closed

pytestmark = [pytest.mark.asyncio_cooperative, pytest.mark.parametrize("backend", [{name!r}], indirect=True)]

async def test_get(backend):
    await asyncio.sleep(0.1)
    assert backend == {name!r} and backend not in closed
"""
    pytester.makepyfile(test_redis=body.format(name="redis"), test_memcached=body.format(name="memcached"))
    pytester.runpytest().assert_outcomes(passed=2)


def test_module_scoped_direct_parametrizations_in_two_tests(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        closed = []

        @pytest.fixture(scope="module")
        async def conn(x):
            yield f"conn{x}"
            closed.append(x)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("x", [1, 2], scope="module")
        async def test_a(conn, x):
            await asyncio.sleep(0.1)
            assert conn == f"conn{x}" and x not in closed

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("x", [2, 3], scope="module")
        async def test_b(conn, x):
            await asyncio.sleep(0.05)
            assert conn == f"conn{x}" and x not in closed
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)
