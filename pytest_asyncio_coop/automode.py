"""Auto mode (``asyncio_cooperative_mode = auto``): an existing pytest-asyncio
suite runs cooperatively with no marker added.

* every ``async def`` test is cooperative, and so is every test that uses an
  async fixture; ``@pytest.mark.asyncio`` (``loop_scope=`` included) is
  accepted and means nothing more;
* pytest-asyncio, when installed, is unregistered before it sees a test, so the
  two never both claim one; its ini keys stay known;
* without pytest-asyncio, ``import pytest_asyncio`` still works for suites
  that use ``@pytest_asyncio.fixture``, its ini keys are still accepted, and
  its ``unused_tcp_port`` fixtures are provided (ports.py; also with
  ``-p no:asyncio``);
* pytest-asyncio's ``pytest_asyncio_loop_factories`` hook (1.4) is honoured,
  with or without it: the one factory it gives the cooperative tests makes
  the session's loop.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
import types
from typing import Any, Callable, Mapping, Sequence

import pytest

from . import _pytest_compat as compat
from .plugin import dotted, on_another_library

# pytest-asyncio's ini keys, with its defaults, for runs without it
PYTEST_ASYNCIO_INI = {
    "asyncio_mode": "strict",
    "asyncio_default_fixture_loop_scope": None,
    "asyncio_default_test_loop_scope": "function",
    "asyncio_debug": "false",
}


def _shim() -> types.ModuleType:
    """A stand-in ``pytest_asyncio`` with what suites use of it."""
    module = types.ModuleType("pytest_asyncio", "Stand-in for pytest-asyncio, made by pytest-asyncio-coop's auto mode.")

    def fixture(fixture_function: Callable[..., Any] | None = None, *, loop_scope: str | None = None, **kwargs: Any) -> Any:
        """``@pytest_asyncio.fixture``: a plain ``@pytest.fixture``; every test
        shares one loop, so ``loop_scope`` changes nothing."""
        if fixture_function is not None:
            return pytest.fixture(fixture_function, **kwargs)
        return pytest.fixture(**kwargs)

    def is_async_test(item: pytest.Item) -> bool:
        """Whether ``item`` is an ``async def`` test (conftests use it to
        mark those tests)."""
        return inspect.iscoroutinefunction(getattr(item, "obj", None))

    module.fixture = fixture  # type: ignore[attr-defined]
    module.is_async_test = is_async_test  # type: ignore[attr-defined]
    module.__version__ = "0+pytest-asyncio-coop-shim"  # type: ignore[attr-defined]
    return module


LOOP_FACTORIES_HOOK = "pytest_asyncio_loop_factories"


class LoopFactoriesSpec:
    """pytest-asyncio's hookspec, for runs without it (not installed, or
    ``-p no:asyncio``): conftests that implement it still load."""

    @pytest.hookspec(firstresult=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], Any]] | None:
        """The event loop factories for ``item``, by name (pytest-asyncio 1.4).

        :param config: the pytest config.
        :param item: the test.
        :return: a non-empty mapping of names to callables that return a new
            event loop. Stops at first non-None result.
        """


def begin(config: pytest.Config) -> None:
    """Called before the initial conftests load, in auto mode."""
    pm = config.pluginmanager
    pytest_asyncio = pm.get_plugin("asyncio")
    if pytest_asyncio is not None:
        # Its pytest_addoption, run when it registered, added its hookspecs;
        # its fixtures stay.
        pm.unregister(pytest_asyncio, "asyncio")
    else:
        from . import ports

        pm.register(ports, "asyncio_coop_ports")  # its fixtures, for the suites that use them
    caller = getattr(pm.hook, LOOP_FACTORIES_HOOK, None)
    if caller is None or caller.spec is None:
        pm.add_hookspecs(LoopFactoriesSpec)
    if "pytest_asyncio" not in sys.modules and importlib.util.find_spec("pytest_asyncio") is None:
        sys.modules["pytest_asyncio"] = _shim()


def uses_async_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for defs in info.name2fixturedefs.values():
        for fixturedef in defs:
            func = getattr(fixturedef.func, "__func__", fixturedef.func)
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                return True
    return False


def is_cooperative(item: pytest.Item) -> bool:
    """In auto mode: async tests, and tests that use async fixtures, but for
    those on another event loop library (anyio's trio tests, pytest-trio's)."""
    return (
        isinstance(item, pytest.Function)
        and type(item).__name__ != "TestCaseFunction"
        and (inspect.iscoroutinefunction(getattr(item, "obj", None)) or uses_async_fixture(item))
        and not on_another_library(item)
    )


def check(config: pytest.Config) -> None:
    """pytest-asyncio came back (a conftest's ``pytest_plugins``): both would
    claim the async tests."""
    if config.pluginmanager.hasplugin("asyncio"):
        raise pytest.UsageError(
            "asyncio_cooperative_mode = auto runs every async test with pytest-asyncio-coop, but "
            "pytest-asyncio was loaded again (a pytest_plugins entry?); remove it from pytest_plugins, "
            "or use asyncio_cooperative_mode = strict and mark cooperative tests."
        )


_BAD_FACTORIES = "pytest_asyncio_loop_factories must return a non-empty mapping of factory names to callables."


class _HookRaised(Exception):
    """A hookimpl of the loop factories hook raised: an error of the test."""


def _hook_factories(item: pytest.Item) -> dict[str, Callable[[], Any]] | None:
    """What the hook gives the item, checked as pytest-asyncio does; None
    where no hookimpl applies to it."""
    caller = getattr(item.ihook, LOOP_FACTORIES_HOOK, None)
    if caller is None or not caller.get_hookimpls():
        return None
    try:
        result = caller(config=item.config, item=item)
    except Exception as exc:
        plugins = ", ".join(impl.plugin_name for impl in caller.get_hookimpls())
        raise _HookRaised(f"{item.nodeid}: {LOOP_FACTORIES_HOOK} (from {plugins}) raised {exc!r}") from exc
    factories = dict(result) if isinstance(result, Mapping) else {}
    if not factories or any(not isinstance(name, str) or not name or not callable(f) for name, f in factories.items()):
        raise pytest.UsageError(_BAD_FACTORIES)
    return factories


def _selected(item: pytest.Item) -> Sequence[str] | str | None:
    """The names ``@pytest.mark.asyncio(loop_factories=[...])`` selects;
    a str is what is wrong with the marker."""
    mark = item.get_closest_marker("asyncio")
    names = None if mark is None else mark.kwargs.get("loop_factories")
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence) or not names or any(
        not isinstance(name, str) or not name for name in names
    ):
        return f"{item.nodeid}: mark.asyncio 'loop_factories' must be a non-empty sequence of strings."
    return names


def _same(factory: Any) -> object:
    """What tells factories apart: a hook that makes a fresh ``partial`` or
    lambda for every test gives the same factory each time."""
    if isinstance(factory, functools.partial):
        return (_same(factory.func), factory.args, sorted(factory.keywords.items()))
    code = getattr(factory, "__code__", None)
    if code is None:
        return factory
    try:
        cells = [cell.cell_contents for cell in factory.__closure__ or ()]
    except ValueError:  # an empty cell
        return factory
    return (code, factory.__defaults__, cells)


def loop_factory(
    items: Sequence[pytest.Item], ini_path: str | None
) -> tuple[Callable[[], Any] | None, dict[pytest.Item, str]]:
    """The one loop factory that pytest-asyncio's hook and markers select for
    the cooperative ``items`` (None if no hookimpl applies to any), and what is
    wrong with the markers of some items (each errors at its setup). Items
    whose selection is unavailable get pytest-asyncio's skip mark.

    A usage error if the hook's result is bad, if the items need more than one
    factory (they share one loop), or if the ini's ``asyncio_loop_factory``
    names another one.
    """
    # (name, factory, what tells it apart, the first test that needs it)
    found: list[tuple[str, Callable[[], Any], object, str]] = []
    problems: dict[pytest.Item, str] = {}
    for item in items:
        try:
            available = factories = _hook_factories(item)
        except _HookRaised as exc:
            problems[item] = str(exc)
            continue
        names = _selected(item)
        if isinstance(names, str):
            problems[item] = names
            continue
        if factories is None:
            if names is not None:
                problems[item] = (
                    f"{item.nodeid}: mark.asyncio 'loop_factories' requires at least one "
                    f"{LOOP_FACTORIES_HOOK} hook implementation."
                )
            continue
        if names is not None:
            # pytest-asyncio makes one test per selected name and skips those
            # not available; the test is not parametrized here, so it runs on
            # the available ones and is skipped when there are none.
            missing = [name for name in names if name not in factories]
            factories = {name: factories[name] for name in names if name in factories}
            if not factories:
                reason = f"Loop factory {missing[0]!r} is not available. Available factories: {', '.join(available)}."
                item.add_marker(pytest.mark.skip(reason=reason))
                continue
        for name, factory in factories.items():
            key = _same(factory)
            if all(key != known for _, _, known, _ in found):
                found.append((name, factory, key, item.nodeid))
    if len(found) > 1:
        shown = ", ".join(f"{name!r} (for {nodeid})" for name, _, _, nodeid in found)
        raise pytest.UsageError(
            f"cooperative tests share one event loop, but {LOOP_FACTORIES_HOOK} gives them {len(found)} "
            f"different loop factories: {shown}. Return one factory from the hook, select one per test "
            "with @pytest.mark.asyncio(loop_factories=[...]), or leave these tests to pytest-asyncio "
            "(asyncio_cooperative_mode = strict)."
        )
    if not found:
        return None, problems
    name, factory, _, nodeid = found[0]
    if ini_path is not None:
        if dotted(ini_path) != factory:
            raise pytest.UsageError(
                f"two event loop factories for the one loop of the cooperative tests: ini option "
                f"asyncio_loop_factory = {ini_path}, and {name!r} ({factory!r}) from {LOOP_FACTORIES_HOOK} "
                f"(for {nodeid}); keep one of them."
            )
    return factory, problems


def unused_event_loop_policy(items: Sequence[pytest.Item]) -> str | None:
    """A warning if a suite overrides pytest-asyncio's ``event_loop_policy``
    fixture for cooperative tests: nothing asks for it here, and the tests
    would silently run on another loop than the one it names."""
    for item in items:
        for fixturedef in compat.fixturemanager(item.session).getfixturedefs("event_loop_policy", item) or ():
            func = fixturedef.func
            if getattr(func, "__module__", "").startswith("pytest_asyncio"):
                continue  # pytest-asyncio's own
            code = getattr(func, "__code__", None)
            where = f"{code.co_filename}:{code.co_firstlineno}" if code else repr(func)
            return (
                f"the event_loop_policy fixture ({where}) is not used in asyncio_cooperative_mode = auto: "
                "the cooperative tests share one loop, of asyncio's default kind unless the ini option "
                "asyncio_loop_factory or pytest-asyncio's pytest_asyncio_loop_factories hook names another "
                "(pytest-asyncio, too, deprecates overriding event_loop_policy for that hook)"
            )
    return None
