"""This plugin's own pluggy PluginManager: the specs, the defaults, and the
hookimpls found in conftest files, pytest plugins and extension packages.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
from pathlib import Path
from typing import Any, Callable

import pluggy
import pytest

from . import defaults, exclusive, hookspecs

PROJECT = "pytest_asyncio_coop"


class HookFailure(Exception):
    """A third-party implementation of one of this plugin's hooks raised."""


HookFailure.__module__ = "pytest_asyncio_coop"


def _marked_hooks(plugin: object) -> dict[str, str]:
    """Attribute name -> hook name of every function marked with ``hookimpl``.

    Read statically: pytest's plugins include objects whose attributes have
    side effects (``pytest.mark`` makes marks, ``config.inicfg`` warns).
    """
    found = {}
    for attr in dir(plugin):
        value = inspect.getattr_static(plugin, attr, None)
        value = getattr(value, "__func__", value)  # staticmethod, classmethod
        opts = vars(value).get(f"{PROJECT}_impl") if inspect.isfunction(value) else None
        if isinstance(opts, dict):
            found[attr] = opts.get("specname") or attr
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
        self.pm.register(exclusive, "asyncio_coop.exclusive")
        self.known = sorted(
            name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), f"{PROJECT}_spec", None) is not None
        )
        # conftest plugin -> the directory whose tests it applies to
        self._scoped: dict[object, Path] = {}
        self._relays: dict[Path, Any] = {}

    def add(self, plugin: object, name: str, directory: Path | None = None) -> None:
        """Register ``plugin`` if it implements any hook; check the names first."""
        marked = _marked_hooks(plugin)
        if not marked or self.pm.is_registered(plugin):
            return
        for attr, hook in marked.items():
            if hook not in self.known:
                raise pytest.UsageError(
                    f"{name}: {attr}() is marked with pytest_asyncio_coop.hookimpl, but there is "
                    f"no hook named {hook!r}; known hooks: {', '.join(self.known)}"
                )
        self.pm.register(plugin, name)
        if directory is not None:
            self._scoped[plugin] = directory

    def collect(self, config: pytest.Config) -> None:
        """Find hookimpls in pytest's plugins and conftests, and in extension packages."""
        for name, plugin in config.pluginmanager.list_name_plugin():
            filename = getattr(plugin, "__file__", None) or ""
            if os.path.basename(filename) == "conftest.py":
                directory = Path(filename).parent
                self.add(plugin, f"conftest {_shown(directory / 'conftest.py', config)}", directory)
            elif plugin is not None:
                self.add(plugin, str(name))
        for entry_point in importlib.metadata.entry_points(group=PROJECT):
            dist = getattr(entry_point, "dist", None)
            label = f"{dist.name if dist else '?'} (entry point {entry_point.name})"
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise pytest.UsageError(f"{label} could not be loaded: {type(exc).__name__}: {exc}") from exc
            self.add(plugin, label)

    def relay_for(self, path: Path) -> Any:
        """The hooks that apply to a test in ``path``."""
        relay = self._relays.get(path)
        if relay is None:
            directory = path.parent
            remove = {p for p, d in self._scoped.items() if d != directory and d not in directory.parents}
            relay = self._relays[path] = _SubsetRelay(self.pm, remove) if remove else self.pm.hook
        return relay

    def call(self, caller: Callable[..., Any], **kwargs: Any) -> tuple[Any, HookFailure | None]:
        """Call a hook; an exception from an implementation comes back as a
        :class:`HookFailure` naming the hook and the plugin, instead of raising."""
        try:
            return caller(**kwargs), None
        except Exception as exc:
            return None, self._failure(caller, exc)

    def _failure(self, caller: Any, exc: Exception) -> HookFailure:
        codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in caller.get_hookimpls()}
        plugin = "?"
        tb = exc.__traceback__
        while tb is not None:
            plugin = codes.get(tb.tb_frame.f_code, plugin)
            tb = tb.tb_next
        failure = HookFailure(f"hook {caller.name} of plugin {plugin!r} raised {type(exc).__name__}: {exc}")
        failure.__cause__ = exc
        return failure


def _shown(path: Path, config: pytest.Config) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)
