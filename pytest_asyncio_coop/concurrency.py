"""Answers to the pytest state that assumes one test at a time.

* Hazard 1: function-scoped FixtureDefs cache their value on the def object.
  Each item gets its own copies (:class:`ItemFixtureDefs`).
* Hazard 2: a shared-scope def can be entered by a second item while the first
  is suspended in its setup. Shared defs are per scope node, and their
  execution is single-flight (:class:`Flights`).
* Hazard 3: pytest's SetupState is a stack. :class:`SetupState` is
  reference-counted instead.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import greenlet
import pytest

from . import _pytest_compat as compat
from .bridge import BridgeGreenlet, await_only, current_runner, current_task_runner, task_owner
from .plugin import is_cooperative, runs_elsewhere
from .protocol import OutsideCooperativeTest, pytest_asyncio_runs, synchronous_twin

if sys.version_info < (3, 11):  # installed with pytest on these versions
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from _pytest.nodes import Node


class Flights:
    """Single-flight sections keyed by object: one greenlet at a time per key.

    A second greenlet that enters a held key waits on the loop (other tests
    keep running) until the holder leaves, then enters itself. Re-entry by the
    holder is allowed. Outside cooperative tests nothing can interleave, so
    nothing is tracked.
    """

    def __init__(self) -> None:
        # key -> (holding greenlet, futures of the greenlets waiting for it)
        self._held: dict[object, tuple[greenlet.greenlet, list[asyncio.Future[None]]]] = {}

    @contextlib.contextmanager
    def hold(self, key: object) -> Iterator[None]:
        me = greenlet.getcurrent()
        if not isinstance(me, BridgeGreenlet):
            yield
            return
        while (entry := self._held.get(key)) is not None and entry[0] is not me:
            waiter = (me.runner.loop_aside or asyncio.get_running_loop()).create_future()  # in a setup: aside
            entry[1].append(waiter)
            await_only(waiter)
        if entry is not None:
            yield
            return
        waiters: list[asyncio.Future[None]] = []
        self._held[key] = (me, waiters)
        try:
            yield
        finally:
            del self._held[key]
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)


_MISSING = object()


def _run_in(context: contextvars.Context, fn: Callable[..., Any], *args: Any) -> Any:
    """``context.run(fn, *args)``, also for code that switches greenlets
    meanwhile (assigning ``gr_context`` does not enter the context)."""
    current = greenlet.getcurrent()
    if not isinstance(current, BridgeGreenlet):
        return context.run(fn, *args)
    saved = current.gr_context
    current.gr_context = context
    try:
        return fn(*args)
    finally:
        current.gr_context = saved


class _SharedFixtureDef:
    """Mixin for a shared-scope FixtureDef instance.

    Its execution is single-flight (hazard 2). Its setup and teardown run in a
    context of their own (hazard 9): the context variables the setup sets are
    copied into each test that uses it, and its teardown sees them, though it
    runs in whichever test is last.
    """

    _coop_instances: FixtureInstances
    # the definition this is an instance of
    _coop_origin: pytest.FixtureDef[Any]
    # where the setup ran; None before it and after the teardown
    _coop_context: contextvars.Context | None = None
    # the context variables the setup changed, and their values
    _coop_changes: tuple[tuple[contextvars.ContextVar[Any], Any], ...] = ()

    def execute(self, request: Any) -> Any:
        with self._coop_instances.flights.hold(self):
            if self.cached_result is not None:  # type: ignore[attr-defined]
                value = super().execute(request)  # type: ignore[misc]
            else:
                self.func = self._coop_instances.function_for(
                    self._coop_origin, compat.requesting_item(request), current_runner() is not None
                )
                context = contextvars.copy_context()
                # Its tasks may outlive this test, and serve others: they are not
                # this test's (output, logs, leaks). Its setup code runs in this
                # test's greenlet, which still attributes that to the test.
                context.run(task_owner.set, None)
                context.run(current_task_runner.set, None)
                before = dict(context)
                try:
                    value = _run_in(context, super().execute, request)  # type: ignore[misc]
                except OutsideCooperativeTest:
                    self.finish(request)  # forget it: a cooperative test may set it up
                    raise
                self._coop_context = context
                self._coop_changes = tuple(
                    (var, val) for var, val in context.items() if before.get(var, _MISSING) is not val
                )
        for var, val in self._coop_changes:
            var.set(val)
        return value

    def finish(self, request: Any) -> None:
        context, self._coop_context, self._coop_changes = self._coop_context, None, ()
        if context is None:
            return super().finish(request)  # type: ignore[misc]
        return _run_in(context, super().finish, request)  # type: ignore[misc]


class _OwnFixtureDef:
    """Mixin for an item's own copy of a function-scoped FixtureDef.

    pytest registers each fixture's ``finish`` with the fixtures it depends
    on, and a shared one keeps those entries until it is torn down. An item's
    own copies would thus be kept, with its request, for as long: memory
    growing with every test run. Once a copy is finished, its entries go
    (calling them would do nothing).
    """

    argnames: tuple[str, ...]

    def finish(self, request: Any) -> None:
        try:
            super().finish(request)  # type: ignore[misc]
        finally:
            info = compat.getfixtureinfo(request.node)
            defs = info.name2fixturedefs if info is not None else {}
            for name in self.argnames:
                for parent in dict.get(defs, name, ()):
                    _forget_finish_of(self, getattr(parent, "_finalizers", None))


def _forget_finish_of(instance: object, finalizers: list[Callable[[], object]] | None) -> None:
    """Remove the entry pytest made for ``instance.finish`` (the latest
    entries are the likeliest)."""
    for index in range(len(finalizers or ()) - 1, -1, -1):
        assert finalizers is not None
        if getattr(getattr(finalizers[index], "func", None), "__self__", None) is instance:
            del finalizers[index]
            return


@functools.lru_cache(maxsize=None)
def _shared_class(cls: type) -> type:
    return type(cls.__name__, (_SharedFixtureDef, cls), {"__module__": cls.__module__})


@functools.lru_cache(maxsize=None)
def _own_class(cls: type) -> type:
    return type(cls.__name__, (_OwnFixtureDef, cls), {"__module__": cls.__module__})


def _fresh_instance(fixturedef: pytest.FixtureDef[Any], cls: type) -> pytest.FixtureDef[Any]:
    """A copy of ``fixturedef`` with its own cache and finalizers."""
    new = object.__new__(cls)
    new.__dict__.update(fixturedef.__dict__)
    new.cached_result = None
    new._finalizers = []
    return new


class FixtureInstances:
    """Where each item's fixture values live, so that interleaved items never share
    a value pytest would not share.

    A function-scoped def becomes one copy per item. A shared-scope def becomes
    one instance per (scope node, parameter), shared by every item under that
    node: two modules running at once each get their own module fixture.
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.flights = Flights()
        self._shared: dict[tuple[object, ...], pytest.FixtureDef[Any]] = {}
        # async fixture function -> its synchronous twin
        self._twins: dict[Callable[..., Any], Callable[..., Any]] = {}

    def function_for(self, fixturedef: pytest.FixtureDef[Any], item: pytest.Item | None, cooperative: bool) -> Callable[..., Any]:
        """The fixture function to run for ``item``, a cooperative test or
        another one: an async fixture runs through the bridge, unless
        pytest-asyncio, anyio or pytest-trio handles it for a test that is
        not cooperative."""
        func = fixturedef.func
        twin = self._twins.get(func)
        if twin is None:
            twin = self._twins[func] = synchronous_twin(func) or func
        if twin is func or cooperative:  # a sync fixture; or the bridge runs it
            return twin
        return func if pytest_asyncio_runs(func, self._config) or runs_elsewhere(item) else twin

    def resolve(self, item: pytest.Item, fixturedef: pytest.FixtureDef[Any], base: Mapping[str, Sequence[Any]]) -> pytest.FixtureDef[Any]:
        """The instance of ``fixturedef`` that ``item`` uses; ``base`` is the
        item's own name -> definitions mapping, as pytest computed it."""
        scope = compat.callspec_scope(item, fixturedef.argname) or fixturedef.scope
        if scope == "function":
            node = item
        elif scope == "package":
            node = compat.get_scope_package(item, fixturedef)
        else:
            node = compat.get_scope_node(item, compat.Scope(scope)) or item
        if node is item:
            instance = _fresh_instance(fixturedef, _own_class(type(fixturedef)))
            instance.func = self.function_for(fixturedef, item, is_cooperative(item))  # type: ignore[misc]
            return instance
        key = (fixturedef, node, _params_seen_by(item, fixturedef, base))
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = _fresh_instance(fixturedef, _shared_class(type(fixturedef)))
            shared._coop_instances = self  # type: ignore[attr-defined]
            shared._coop_origin = fixturedef  # type: ignore[attr-defined]
        return shared

    def resolve_all(self, item: pytest.Item, fixturedefs: Sequence[pytest.FixtureDef[Any]], base: Mapping[str, Sequence[Any]]) -> tuple[pytest.FixtureDef[Any], ...]:
        return tuple(self.resolve(item, fixturedef, base) for fixturedef in fixturedefs)

    def give_item_its_own(self, item: pytest.Item) -> None:
        """Point ``item``'s fixture lookups at its own instances (hazards 1 and 2)."""
        info = compat.getfixtureinfo(item)
        if info is None:
            return
        view = ItemFixtureDefs(item, self, info.name2fixturedefs)
        view.original = info
        compat.set_fixtureinfo(
            item,
            compat.FuncFixtureInfo(
                argnames=info.argnames,
                initialnames=info.initialnames,
                names_closure=info.names_closure,
                name2fixturedefs=view,
            ),
        )

    @staticmethod
    def release(item: pytest.Item) -> None:
        """``item`` is done: it gets its shared fixture info back, so that its
        own instances are not kept for the rest of the session."""
        info = compat.getfixtureinfo(item)
        original = getattr(info.name2fixturedefs, "original", None) if info is not None else None
        if original is not None:
            compat.set_fixtureinfo(item, original)


def _params_seen_by(item: pytest.Item, fixturedef: pytest.FixtureDef[Any], base: Mapping[str, Sequence[Any]]) -> tuple[tuple[str, object], ...]:
    """The item's parameters that ``fixturedef`` depends on, itself included.

    pytest re-creates a shared fixture when a parametrized fixture it depends
    on changes parameter; here each combination is its own instance. Keyed by
    the parameter's value, as pytest's own cache is: indices are per
    parametrize call, and two calls may give the same name other values.
    """
    params = getattr(getattr(item, "callspec", None), "params", None)
    if not params:
        return ()
    names: set[str] = set()
    pending = [fixturedef.argname, *fixturedef.argnames]
    while pending:
        name = pending.pop()
        if name not in names:
            names.add(name)
            for dependency in base.get(name, ()):
                pending.extend(dependency.argnames)
    return tuple(sorted((name, _value_key(params[name])) for name in names if name in params))


def _value_key(value: object) -> object:
    try:
        hash(value)
    except TypeError:
        return ("unhashable", id(value))
    return ("value", type(value).__name__, value)


class ItemFixtureDefs(dict):  # type: ignore[type-arg]
    """One item's fixture name -> definitions, resolved to its own instances.

    ``getfixturevalue`` of a name outside the static closure goes through
    ``get``; it is resolved here too instead of reaching the shared defs.
    """

    def __init__(self, item: pytest.Item, instances: FixtureInstances, base: Mapping[str, Sequence[Any]]) -> None:
        super().__init__((name, instances.resolve_all(item, defs, base)) for name, defs in base.items())
        self._item = item
        self._instances = instances
        self._base = base
        #: the item's fixture info before it got this view
        self.original: Any = None

    def copy(self) -> ItemFixtureDefs:
        # pytest 8 copies the mapping into each request it makes.
        new = dict.__new__(ItemFixtureDefs)
        new.update(self)
        new._item, new._instances, new._base, new.original = self._item, self._instances, self._base, self.original
        return new

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            pass
        defs = compat.fixturemanager(self._item.session).getfixturedefs(name, self._item)
        if defs is None:
            return default
        resolved = self[name] = self._instances.resolve_all(self._item, defs, self._base)
        return resolved


class _Stack(dict):  # type: ignore[type-arg]
    """pytest's ``SetupState.stack`` shape. Deleting an entry from outside is
    ignored: pytest-rerunfailures deletes every node but the rerun item to
    make its parents set up again, which under concurrency would drop the
    finalizers of nodes other tests still use."""

    def __delitem__(self, node: object) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Ignored too: pytest-rerunfailures puts back what it deleted, from
        one module-global dict for all tests, which under concurrency holds
        other tests' entries as they were."""


class SetupState:
    """A reference-counted replacement for pytest's SetupState (hazard 3).

    * a node is set up once; concurrent requesters wait for it;
    * a node is torn down when the last item that needs it is done, and only
      once the teardowns below it are done;
    * teardown runs in reverse order of setup;
    * when the session stops early, each item ending tears down what no
      running item needs, and session end tears down whatever is left.

    ``stack`` keeps pytest's shape (node -> (finalizers, setup error)) and
    order, for plugins that inspect it.
    """

    def __init__(self, items: Sequence[pytest.Item]) -> None:
        self.stack: dict[Node, tuple[list[Callable[[], object]], tuple[BaseException, Any] | None]] = _Stack()
        # items per node that are not done with it yet
        self._remaining: Counter[Node] = Counter()
        # items counted in _remaining and not yet released
        self._pending: set[pytest.Item] = set()
        # items set up and not done with their teardown
        self._active: set[pytest.Item] = set()
        #: the item being run outside the loop, by the sequential phase
        self.sequential_item: pytest.Item | None = None
        self._flights = Flights()
        for item in items:
            self._count(item)

    def _count(self, item: pytest.Item) -> None:
        self._pending.add(item)
        self._remaining.update(item.listchain())

    def expect(self, items: Sequence[pytest.Item]) -> None:
        """These items will run (under xdist, a worker learns its items as it
        goes): what they share stays set up until they are done."""
        for item in items:
            if item not in self._pending:
                self._count(item)

    def _current_item(self) -> pytest.Item | None:
        runner = current_runner()
        return runner.item if runner is not None else self.sequential_item

    def is_node_active(self, node: Node) -> bool:
        return node in self.stack

    def setup(self, item: pytest.Item) -> None:
        if item not in self._pending:
            self._count(item)
        self._active.add(item)
        for col in item.listchain():
            if col not in self.stack and col is not item:
                # Collectors are shared: one item sets it up, the others wait.
                with self._flights.hold(col):
                    if col not in self.stack:
                        self._setup_node(col)
                        continue
            elif col not in self.stack:
                self._setup_node(col)
                continue
            error = self.stack[col][1]
            if error is not None:
                raise error[0].with_traceback(error[1])

    def _setup_node(self, col: Node) -> None:
        self.stack[col] = ([col.teardown], None)
        try:
            col.setup()
        except compat.TEST_OUTCOME as exc:
            self.stack[col] = (self.stack[col][0], (exc, exc.__traceback__))
            raise

    def addfinalizer(self, finalizer: Callable[[], object], node: Node) -> None:
        assert node in self.stack, (node, self.stack)
        self.stack[node][0].append(finalizer)

    def teardown_exact(self, nextitem: pytest.Item | None) -> None:
        """Tear down what the current item no longer shares with anyone.

        ``nextitem`` is not used: the next item to run is not the next to end.
        With no current item (session end) everything left is torn down.
        """
        item = self._current_item()
        if item is None:
            _raise(self._teardown(list(reversed(self.stack))))
            return
        if _runs_again(item):
            # Only its own fixtures go: it still needs what it shares.
            try:
                _raise(self._teardown([item]))
            finally:
                self._active.discard(item)
            return
        counted = item in self._pending
        self._pending.discard(item)
        exceptions: list[BaseException] = []
        try:
            # Bottom-up, a level at a time: the item stops counting for a node
            # only once what it tore down below that node is done, so a shared
            # node is never torn down while a fixture that uses it still is.
            for node in reversed(item.listchain()):
                if counted:
                    self._remaining[node] -= 1
                if node in self.stack and (node is item or self._remaining[node] <= 0):
                    exceptions += self._teardown([node])
            if self._stopping(item.session):
                # Tests that have not started will not: what no running test
                # needs goes now.
                needed = {node for other in self._active if other is not item for node in other.listchain()}
                exceptions += self._teardown([node for node in reversed(self.stack) if node not in needed])
        finally:
            self._active.discard(item)
        _raise(exceptions)

    @staticmethod
    def _stopping(session: pytest.Session) -> bool:
        """Whether the session stops, or will once a running test's reports are
        logged (``Scheduler.expect_stop``)."""
        runner = current_runner()
        return bool(session.shouldfail or session.shouldstop) or (runner is not None and runner.scheduler.stop_expected)

    def _teardown(self, nodes: list[Node]) -> list[BaseException]:
        """Run the finalizers of ``nodes``, in that order; their errors."""
        exceptions: list[BaseException] = []
        for node in nodes:
            entry = self.stack.pop(node, None)
            if entry is None:
                continue
            finalizers = entry[0]
            these: list[BaseException] = []
            while finalizers:
                try:
                    finalizers.pop()()
                except compat.TEST_OUTCOME as e:
                    these.append(e)
                except BaseException:
                    # Ctrl-C in a finalizer: the others stay set up, for the
                    # end of the run to tear down.
                    if finalizers:
                        self.stack[node] = entry
                    raise
            if len(these) == 1:
                exceptions.extend(these)
            elif these:
                exceptions.append(BaseExceptionGroup(f"errors while tearing down {node!r}", these[::-1]))
        return exceptions


def _runs_again(item: pytest.Item) -> bool:
    """Whether the item's protocol runs again after this teardown: a
    ``flakey`` retry, or a pytest-rerunfailures rerun (which says so on the
    item, as its teardown hook, called before this, expects one)."""
    runner = current_runner()
    return getattr(item, "_finalizers_suspended", False) or (
        runner is not None and runner.item is item and runner.will_retry()
    )


def _raise(exceptions: list[BaseException]) -> None:
    """Raise teardown errors as pytest's SetupState does: one as itself,
    several as a group."""
    if len(exceptions) == 1:
        raise exceptions[0]
    if exceptions:
        raise BaseExceptionGroup("errors during test teardown", exceptions[::-1])
