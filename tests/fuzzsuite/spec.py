"""What a generated test suite is made of, and the hypothesis strategy that
draws one. The suite is plain data: render.py writes it out as a conftest and
test modules, model.py says what pytest must report for it."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

#: widest first; a fixture may only depend on fixtures at least as wide
SCOPES = ("session", "module", "class", "function")
#: the timeout of a test that hangs; any other test's timeout is extended by
#: the conftest's on_task_timeout hook, so only a hang can time out
HANG_TIMEOUT = 0.3
#: per-test timeouts a test may carry (with the extension, none is too short)
TIMEOUTS = (None, HANG_TIMEOUT, 60.0)
SLEEPS = (0.0, 0.0, 0.001, 0.005, 0.02)
MAX_HANGS = 2


@dataclasses.dataclass(frozen=True)
class Fixture:
    name: str
    scope: str
    is_async: bool
    autouse: bool
    deps: tuple[str, ...]
    setup: str  # "ok", "fail" or "skip" (pytest.skip in the fixture)
    teardown: str  # "ok" or "fail"
    setup_sleep: float
    teardown_sleep: float


@dataclasses.dataclass(frozen=True)
class Test:
    name: str
    module: int
    cls: int | None  # index of its class in the module, or a module-level function
    kind: str  # "async" or "sync" (both marked cooperative), "plain" (unmarked sync)
    fixtures: tuple[str, ...]
    body: str  # "pass", "fail" or "skip" (pytest.skip in the test)
    sleep: float
    mark: str | None  # "skip", "xfail", "xfail_strict" or None
    hang: str | None  # where it hangs until its timeout: "setup", "call", "teardown", None
    timeout: float | None  # timeout= on the marker
    lock: int | None
    exclusive: bool

    @property
    def nodeid(self) -> str:
        cls = f"::TestC{self.cls}" if self.cls is not None else ""
        return f"test_m{self.module}.py{cls}::{self.name}"

    @property
    def cooperative(self) -> bool:
        return self.kind != "plain"


@dataclasses.dataclass(frozen=True)
class Suite:
    fixtures: tuple[Fixture, ...]
    tests: tuple[Test, ...]
    max_tasks: int | None
    exitfirst: bool
    task_timeout: float | None  # --asyncio-task-timeout
    sync_tests: str | None  # --asyncio-sync-tests

    def fixture(self, name: str) -> Fixture:
        return next(f for f in self.fixtures if f.name == name)

    def args(self) -> list[str]:
        args = []
        if self.max_tasks is not None:
            args += ["--max-asyncio-tasks", str(self.max_tasks)]
        if self.task_timeout is not None:
            args += ["--asyncio-task-timeout", str(self.task_timeout)]
        if self.sync_tests is not None:
            args += ["--asyncio-sync-tests", self.sync_tests]
        if self.exitfirst:
            args.append("-x")
        return args


def all_sync(fixtures: dict[str, Fixture], names: tuple[str, ...]) -> bool:
    """Whether every fixture in the closure of ``names`` is sync (a plain
    test may use only those)."""
    return all(not fixtures[n].is_async and all_sync(fixtures, fixtures[n].deps) for n in names)


def _weighted(*pairs: tuple[int, object]) -> st.SearchStrategy:
    """The first choice is what hypothesis shrinks towards."""
    return st.sampled_from([value for weight, value in pairs for _ in range(weight)])


@st.composite
def fixtures(draw: st.DrawFn) -> tuple[Fixture, ...]:
    made: dict[str, Fixture] = {}
    for i in range(draw(st.integers(0, 8))):
        scope = draw(st.sampled_from(SCOPES))
        autouse = draw(_weighted((6, False), (1, True)))
        wider = [f for f in made.values() if SCOPES.index(f.scope) <= SCOPES.index(scope)]
        if autouse:  # plain tests get it too, so it and what it needs are sync
            wider = [f for f in wider if all_sync(made, (f.name,))]
        deps = draw(st.lists(st.sampled_from([f.name for f in wider]), max_size=2, unique=True)) if wider else []
        fixture = Fixture(
            name=f"f{i}",
            scope=scope,
            is_async=not autouse and draw(st.booleans()),
            autouse=autouse,
            deps=tuple(deps),
            setup=draw(_weighted((8, "ok"), (1, "fail"), (1, "skip"))),
            teardown=draw(_weighted((8, "ok"), (1, "fail"))),
            setup_sleep=draw(st.sampled_from(SLEEPS)),
            teardown_sleep=draw(st.sampled_from(SLEEPS)),
        )
        made[fixture.name] = fixture
    return tuple(made.values())


@st.composite
def suites(draw: st.DrawFn) -> Suite:
    fixture_list = draw(fixtures())
    by_name = {f.name: f for f in fixture_list}
    modules = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3))  # classes per module
    task_timeout = draw(st.sampled_from((None, HANG_TIMEOUT, 60.0)))
    tests = []
    hangs = 0
    for i in range(draw(st.integers(1, 30))):
        module = draw(st.integers(0, len(modules) - 1))
        cls = draw(st.none() | st.integers(0, modules[module] - 1)) if modules[module] else None
        kind = draw(_weighted((4, "async"), (1, "sync"), (1, "plain")))
        usable = [f.name for f in fixture_list if kind != "plain" or all_sync(by_name, (f.name,))]
        names = draw(st.lists(st.sampled_from(usable), max_size=4, unique=True)) if usable else []
        hang = draw(_weighted((12, None), (1, "setup"), (1, "call"), (1, "teardown"))) if kind == "async" else None
        if hang is not None and hangs == MAX_HANGS:
            hang = None
        hangs += hang is not None
        timeout = draw(st.sampled_from(TIMEOUTS)) if kind != "plain" else None
        if hang is not None and (timeout, task_timeout) != (None, HANG_TIMEOUT):
            timeout = HANG_TIMEOUT  # a hang must time out soon
        tests.append(
            Test(
                name=f"test_t{i:02d}",
                module=module,
                cls=cls,
                kind=kind,
                fixtures=tuple(names),
                body=draw(_weighted((6, "pass"), (2, "fail"), (1, "skip"))),
                sleep=draw(st.sampled_from(SLEEPS + (0.03,))) if kind == "async" else 0.0,
                mark=draw(_weighted((8, None), (1, "skip"), (1, "xfail"), (1, "xfail_strict"))),
                hang=hang,
                timeout=timeout,
                lock=draw(_weighted((4, None), (1, 0), (1, 1))) if kind == "async" else None,
                exclusive=kind != "plain" and draw(_weighted((12, False), (1, True))),
            )
        )
    return Suite(
        fixtures=fixture_list,
        tests=tuple(tests),
        max_tasks=draw(st.sampled_from((None, 1, 2, 3, 5, 10))),
        exitfirst=draw(_weighted((3, False), (1, True))),
        task_timeout=task_timeout,
        sync_tests=draw(st.sampled_from((None, "overlap"))),
    )
