"""What pytest reports for a generated suite, worked out without running it.

The rules are pytest's own (checked against plain pytest, see
test_fuzz_model.py's ``COOP_FUZZ_PLAIN``):

* Fixtures are set up in pytest's order: autouse names first (alphabetical,
  as pytest reads them with ``dir()``), then the test's arguments; that
  closure, depth first, stably sorted by scope, widest first; each name
  sets up its dependencies first. The first fixture whose setup raises (or
  skips) ends the setup; a shared fixture's error is cached, so every test
  that needs that instance gets it too.
* A skip mark skips at setup, before any fixture. The call runs only if the
  setup passed.
* xfail: a failure in any phase is "xfailed", a passing call is "xpassed"
  (strict: "failed"), a skip stays "skipped".
* The test's teardown fails if a fixture it set up that lives on the test
  itself (function scope, or class scope outside a class) fails to tear down.
* A shared instance (session, module, class) that was set up and fails to
  tear down gives one teardown error, to one of the tests in its scope: the
  one that happens to finish last, which is not deterministic under
  concurrency. The model names the candidates.
* A hang (setup, call or teardown) ends in the test's timeout: a failure of
  that phase.
"""

from __future__ import annotations

import dataclasses

from .render import HANG_FIXTURES
from .spec import SCOPES, Fixture, Suite, Test

XFAIL = ("xfail", "xfail_strict")
FAILING = ("failed", "error")


@dataclasses.dataclass(frozen=True)
class Instance:
    """One instance of a fixture: the fixture and the node id it lives on."""

    fixture: Fixture
    node: str
    #: torn down by the test that set it up (it lives on the test)
    own: bool

    @property
    def key(self) -> str:
        return f"{self.fixture.name}@{self.node}"


@dataclasses.dataclass
class TestOutcome:
    #: (phase, category) per report, in order; the teardown's category as if
    #: no shared fixture's teardown error landed on it
    reports: list[tuple[str, str]]
    #: texts its reports must contain, per phase
    texts: dict[str, list[str]]
    #: the fixture instances it sets up (what it can fail to tear down, too)
    instances: list[Instance]
    #: whether its own teardown can fail (with -x a test is cut short, so
    #: a fixture it would have set up may not be)
    may_fail_teardown: bool


@dataclasses.dataclass
class Expected:
    tests: dict[str, TestOutcome]
    #: teardown error message of a shared instance -> node ids that may carry it
    shared_teardown_errors: dict[str, set[str]]

    @property
    def failing(self) -> bool:
        """Whether a test fails or errors for certain (a shared fixture's
        teardown error may land on an xfail test, and then counts as xfailed)."""
        return any(c in FAILING for o in self.tests.values() for _, c in o.reports)


def category(when: str, raw: str, test: Test) -> str:
    """How pytest shows a phase that passed, failed or skipped."""
    xfail = test.mark in XFAIL
    if raw == "skip":
        return "skipped"
    if raw == "fail":
        return "xfailed" if xfail else ("failed" if when == "call" else "error")
    if when != "call":
        return ""
    if xfail:
        return "failed" if test.mark == "xfail_strict" else "xpassed"
    return "passed"


def scope_node(fixture: Fixture, test: Test) -> tuple[str, bool]:
    """The node id an instance of ``fixture`` for ``test`` lives on, and
    whether that is the test itself."""
    module = f"test_m{test.module}.py"
    if fixture.scope == "session":
        return "", False
    if fixture.scope == "module":
        return module, False
    if fixture.scope == "class" and test.cls is not None:
        return f"{module}::TestC{test.cls}", False
    return test.nodeid, True


def setup_order(suite: Suite, test: Test) -> list[Fixture]:
    defs = {f.name: f for f in (*suite.fixtures, *HANG_FIXTURES)}
    hang = {"setup": ("hang_setup",), "teardown": ("hang_teardown",)}.get(test.hang or "", ())
    initial = sorted(f.name for f in suite.fixtures if f.autouse)
    initial += [n for n in (*test.fixtures, *hang) if n not in initial]
    closure: list[str] = []

    def visit(name: str) -> None:
        if name not in closure:
            closure.append(name)
            for dep in defs[name].deps:
                visit(dep)

    for name in initial:
        visit(name)
    closure.sort(key=lambda n: SCOPES.index(defs[n].scope))
    order: list[Fixture] = []

    def set_up(name: str) -> None:
        if defs[name] not in order:
            for dep in defs[name].deps:
                set_up(dep)
            order.append(defs[name])

    for name in closure:
        set_up(name)
    return order


def _failure_text(instance: Instance, when: str) -> str:
    """What the report of a fixture's failure says."""
    fixture = instance.fixture
    behaviour = fixture.setup if when == "setup" else fixture.teardown
    if behaviour == "hang":
        return f"waiting in fixture '{fixture.name}' at {when}"
    return f"{when} {'skipped' if behaviour == 'skip' else 'failed'}: {instance.key}"


def in_scope(test: Test, node: str) -> bool:
    return not node or test.nodeid.startswith(node + "::")


def expect(suite: Suite, *, plain: bool = False) -> Expected:
    """What each test reports if every test runs (no -x); ``plain``: for the
    plain-pytest rendering, where a hang is an immediate error."""
    tests: dict[str, TestOutcome] = {}
    set_up: dict[str, Instance] = {}
    for test in suite.tests:
        raw, texts, instances = "pass", {}, []
        if test.mark == "skip":
            raw = "skip"
        else:
            for fixture in setup_order(suite, test):
                node, own = scope_node(fixture, test)
                instance = Instance(fixture, node, own)
                if fixture.setup != "ok":
                    raw = "skip" if fixture.setup == "skip" else "fail"
                    texts["setup"] = [_failure_text(instance, "setup")]
                    break
                instances.append(instance)
                set_up.setdefault(instance.key, instance)
        reports = [("setup", category("setup", raw, test))]
        if raw == "pass":
            call = "fail" if test.hang == "call" else test.body
            reports.append(("call", category("call", call, test)))
            if test.hang == "call":
                texts["call"] = ["waiting in the test's call"]
        failing_own = [i for i in instances if i.own and i.fixture.teardown != "ok"]
        texts["teardown"] = [_failure_text(i, "teardown") for i in failing_own]
        reports.append(("teardown", category("teardown", "fail" if failing_own else "pass", test)))
        own_may_fail = any(
            f.teardown != "ok" and scope_node(f, test)[1] for f in setup_order(suite, test)
        ) and test.mark != "skip"
        tests[test.nodeid] = TestOutcome(reports, texts, instances, own_may_fail)
        if plain:
            for phase in texts:
                texts[phase] = [t for t in texts[phase] if not t.startswith("waiting in")]
    shared = {
        f"teardown failed: {key}": {t.nodeid for t in suite.tests if in_scope(t, i.node)}
        for key, i in set_up.items()
        if not i.own and i.fixture.teardown == "fail"
    }
    return Expected(tests, shared)
