"""This plugin's own pluggy PluginManager: the specs, the defaults, and the
hookimpls found in conftest files, pytest plugins and extension packages.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import types
from pathlib import Path
from typing import Any, Callable

import pluggy
import pytest

from . import defaults, exclusive, hookspecs

PROJECT = "pytest_asyncio_coop"


#: what an implementation may raise without stopping the run: any error, and
#: pytest.skip() / pytest.fail() / pytest.xfail() (pytest.exit() and Ctrl-C stop it)
FAILURES = (Exception, pytest.skip.Exception, pytest.fail.Exception)


class HookFailure(Exception):
    """A third-party implementation of one of this plugin's hooks raised."""


HookFailure.__module__ = "pytest_asyncio_coop"


def _marked_hooks(plugin: object) -> dict[str, str]:
    """Attribute name -> hook name of every function marked with ``hookimpl``.

    Read statically: pytest's plugins include objects whose attributes have
    side effects (``pytest.mark`` makes marks, ``config.inicfg`` warns).
    """
    if isinstance(plugin, types.ModuleType):
        namespaces = [vars(plugin)]
    else:  # a class, or an instance: what getattr would find first
        classes = plugin.__mro__ if isinstance(plugin, type) else type(plugin).__mro__
        namespaces = [getattr(plugin, "__dict__", {}), *(vars(cls) for cls in classes)]
    found = {}
    for namespace in reversed(namespaces):
        for attr, value in namespace.items():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            opts = vars(value).get(f"{PROJECT}_impl") if inspect.isfunction(value) else None
            if isinstance(opts, dict):
                found[attr] = opts.get("specname") or attr
            else:
                found.pop(attr, None)  # hidden by something else
    return found


class _SubsetRelay:
    """The hooks as seen from one directory: conftests elsewhere left out."""

    def __init__(self, pm: pluggy.PluginManager, remove: set[object]) -> None:
        self._pm = pm
        self._remove = remove

    def __getattr__(self, name: str) -> Any:
        caller = self._pm.subset_hook_caller(name, remove_plugins=self._remove)
        setattr(self, name, caller)
        return caller


class Manager:
    """Registers hookimpls and calls hooks, attributing failures to plugins."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(defaults, "asyncio_coop.defaults")
        self.pm.register(exclusive.Exclusive(), "asyncio_coop.exclusive")
        self.known = sorted(
            name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), f"{PROJECT}_spec", None) is not None
        )
        # conftest plugin -> the directory whose tests it applies to
        self._scoped: dict[object, Path] = {}
        self._relays: dict[Path, Any] = {}
        #: why a plugin could not be added, for the usage error once collection is done
        self.problems: list[str] = []
        self._marker_options: dict[Path, dict[str, list[tuple[str, Callable[[Any], object] | None]]]] = {}

    def add(self, plugin: object, name: str, directory: Path | None = None) -> None:
        """Register ``plugin`` if it implements any hook; check the names first."""
        marked = _marked_hooks(plugin)
        if not marked or self.pm.is_registered(plugin):
            return
        unknown = [
            f"{name}: {attr}() is marked with pytest_asyncio_coop.hookimpl, but there is "
            f"no hook named {hook!r}; known hooks: {', '.join(self.known)}"
            for attr, hook in marked.items()
            if hook not in self.known
        ]
        if unknown:
            self.problems.extend(unknown)
            return
        self.pm.register(plugin, name)
        if directory is not None:
            self._scoped[plugin] = directory
            self._relays.clear()
            self._marker_options.clear()

    def collect(self, config: pytest.Config) -> None:
        """Find hookimpls in pytest's plugins and conftests, now and as they
        register, and in extension packages."""
        config.pluginmanager.register(_Listener(self, config), "asyncio_coop.hook_listener")
        for entry_point in importlib.metadata.entry_points(group=PROJECT):
            dist = getattr(entry_point, "dist", None)
            label = f"{dist.name if dist else '?'} (entry point {entry_point.name})"
            try:
                plugin = entry_point.load()
            except Exception as exc:
                self.problems.append(f"{label} could not be loaded: {type(exc).__name__}: {exc}")
            else:
                self.add(plugin, label)

    def check(self) -> None:
        """Stop the run with a usage error if a plugin could not be added."""
        if self.problems:
            raise pytest.UsageError(*self.problems)

    def relay_for(self, path: Path) -> Any:
        """The hooks that apply to a test in ``path``."""
        relay = self._relays.get(path)
        if relay is None:
            directory = path.parent
            remove = {p for p, d in self._scoped.items() if d != directory and d not in directory.parents}
            relay = self._relays[path] = _SubsetRelay(self.pm, remove) if remove else self.pm.hook
        return relay

    def marker_options(self, path: Path) -> dict[str, list[tuple[str, Callable[[Any], object] | None]]]:
        """The marker arguments declared for tests in ``path``: name -> the
        (plugin, check) pairs of the plugins that read it."""
        known = self._marker_options.get(path)
        if known is None:
            known = {}
            for impl in self.relay_for(path).marker_options.get_hookimpls():
                try:
                    declared = dict(impl.function())
                except FAILURES as exc:
                    raise HookFailure(
                        f"hook marker_options of plugin {impl.plugin_name!r} raised {type(exc).__name__}: {exc}"
                    ) from exc
                for name, check in declared.items():
                    known.setdefault(name, []).append((impl.plugin_name, check))
            self._marker_options[path] = known
        return known

    def call(self, caller: Callable[..., Any], **kwargs: Any) -> tuple[Any, HookFailure | None]:
        """Call a hook; an exception from an implementation comes back as a
        :class:`HookFailure` naming the hook and the plugin, instead of raising.
        A hook that no plugin implements is not called (``on_task_finish``,
        for every test)."""
        if not caller.get_hookimpls():
            return None, None
        try:
            return caller(**kwargs), None
        except FAILURES as exc:
            return None, self._failure(caller, exc)

    def _failure(self, caller: Any, exc: BaseException) -> HookFailure:
        codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in caller.get_hookimpls()}
        plugin = "?"
        tb = exc.__traceback__
        while tb is not None:
            plugin = codes.get(tb.tb_frame.f_code, plugin)
            tb = tb.tb_next
        failure = HookFailure(f"hook {caller.name} of plugin {plugin!r} raised {type(exc).__name__}: {exc}")
        failure.__cause__ = exc
        return failure


class _Listener:
    """Adds each pytest plugin to the manager as it registers (pytest replays
    the ones registered before)."""

    def __init__(self, manager: Manager, config: pytest.Config) -> None:
        self._manager = manager
        self._config = config

    def pytest_plugin_registered(self, plugin: object, plugin_name: str) -> None:
        filename = getattr(plugin, "__file__", None) or ""
        if os.path.basename(filename) == "conftest.py":
            directory = Path(filename).parent
            self._manager.add(plugin, f"conftest {_shown(directory / 'conftest.py', self._config)}", directory)
        elif plugin is not None and plugin is not self:
            self._manager.add(plugin, str(plugin_name))


def _shown(path: Path, config: pytest.Config) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)
