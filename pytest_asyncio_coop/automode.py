"""Auto mode (``asyncio_cooperative_mode = auto``): an existing pytest-asyncio
suite runs cooperatively with no marker added.

* every ``async def`` test is cooperative, and so is every test that uses an
  async fixture; ``@pytest.mark.asyncio`` (``loop_scope=`` included) is
  accepted and means nothing more;
* pytest-asyncio, when installed, is unregistered before it sees a test, so the
  two never both claim one; its ini keys stay known;
* without pytest-asyncio, ``import pytest_asyncio`` still works for suites
  that use ``@pytest_asyncio.fixture``, and its ini keys are still accepted.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from typing import Any, Callable

import pytest

# pytest-asyncio's ini keys, with its defaults, for runs without it
PYTEST_ASYNCIO_INI = {
    "asyncio_mode": "strict",
    "asyncio_default_fixture_loop_scope": None,
    "asyncio_default_test_loop_scope": "function",
    "asyncio_debug": "false",
}


def _shim() -> types.ModuleType:
    """A stand-in ``pytest_asyncio`` with the decorator suites use."""
    module = types.ModuleType("pytest_asyncio", "Stand-in for pytest-asyncio, made by pytest-asyncio-coop's auto mode.")

    def fixture(fixture_function: Callable[..., Any] | None = None, *, loop_scope: str | None = None, **kwargs: Any) -> Any:
        """``@pytest_asyncio.fixture``: a plain ``@pytest.fixture``; every test
        shares one loop, so ``loop_scope`` changes nothing."""
        if fixture_function is not None:
            return pytest.fixture(fixture_function, **kwargs)
        return pytest.fixture(**kwargs)

    module.fixture = fixture  # type: ignore[attr-defined]
    module.__version__ = "0+pytest-asyncio-coop-shim"  # type: ignore[attr-defined]
    return module


def begin(config: pytest.Config) -> None:
    """Called before the initial conftests load, in auto mode."""
    pm = config.pluginmanager
    pytest_asyncio = pm.get_plugin("asyncio")
    if pytest_asyncio is not None:
        pm.unregister(pytest_asyncio, "asyncio")
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
    """In auto mode: async tests, and tests that use async fixtures."""
    return (
        isinstance(item, pytest.Function)
        and type(item).__name__ != "TestCaseFunction"
        and (inspect.iscoroutinefunction(getattr(item, "obj", None)) or uses_async_fixture(item))
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
