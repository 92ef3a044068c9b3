"""A run of a generated suite, read back from its files, and the assertions
that compare it with the model (model.py).

Without ``-x`` (or with ``-x`` and no failure in the model) the model is exact,
test by test and phase by phase. With ``-x`` the scheduler stops at the first
failing report it logs: nothing new starts after it, the running tests are
cancelled and their reports dropped, except errors in their teardown
(scheduler.py, ``finish`` and ``_stop_running``). Which tests ran by then
depends on timing, so what is asserted is what the plugin guarantees:

* exactly one test reports in full and has a failure: the one that stopped the
  run; every test that reports in full reports what the model says;
* any other test reports a teardown error of its own or of a shared fixture,
  or nothing;
* no test starts, and no setup begins, after the first failing report;
* every fixture set up is torn down, and its teardown error is reported: as
  an error of a test in its scope, or, when the test that stopped the run
  failed only in its teardown (the stop is seen only when its reports are
  logged, after it), in the warning about what was left at the end.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from .model import FAILING, Expected, TestOutcome, category, expect
from .spec import Suite, Test

#: what no run may print
BAD_OUTPUT = ("Task was destroyed", "was never awaited", "ResourceWarning", "INTERNALERROR")
LEFT_OVER = "PytestWarning: tearing down what was left at the end of the run failed"
TEARDOWN_ERROR = re.compile(r"RuntimeError: teardown failed: (\S+)")


@dataclasses.dataclass
class Run:
    ret: int
    output: str
    outcomes: dict[str, int]
    #: node id -> its reports, in the order they were logged
    reports: dict[str, list[dict[str, Any]]]
    events: list[list[str]]

    @classmethod
    def read(cls, directory: Path, result: Any) -> Run:
        reports: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        path = directory / "reports.jsonl"
        for line in path.read_text().splitlines() if path.exists() else ():
            report = json.loads(line)
            reports[report["nodeid"]].append(report)
        path = directory / "events.log"
        events = [line.split(" ") for line in path.read_text().splitlines()] if path.exists() else []
        output = "\n".join(result.outlines + result.errlines)
        try:
            outcomes = result.parseoutcomes()
        except ValueError:
            outcomes = {}
        return cls(result.ret, output, outcomes, dict(reports), events)


def check(suite: Suite, run: Run, *, plain: bool = False) -> None:
    expected = expect(suite, plain=plain)
    check_fixture_events(run.events)
    stopped = suite.exitfirst and "stopping after" in run.output
    assert stopped or not (suite.exitfirst and expected.failing), "-x did not stop the run"
    if not plain:
        check_tasks(suite, run.events, exitfirst=stopped)
    left_over = False
    if stopped:
        left_over = check_stopped_run(suite, expected, run)
    else:
        check_every_test(suite, expected, run)
    for bad in BAD_OUTPUT:
        assert bad not in run.output, f"{bad!r} in the output"
    warnings = run.outcomes.get("warnings", 0)
    assert warnings == left_over, f"{warnings} warning(s)"
    finished = sum(1 for event in run.events if event[0] == "finish")
    assert not finished or f"cooperative: {finished} test{'s' if finished > 1 else ''} in" in run.output


def _shown(report: dict[str, Any], messages: set[str] | dict[str, Any]) -> set[str]:
    return {m for m in messages if m in report["text"]}


def check_complete(test: Test, outcome: TestOutcome, reports: list[dict[str, Any]], shared: dict[str, set[str]]) -> set[str]:
    """The reports of a test that ran to its end are the model's; returns the
    shared teardown errors it carries."""
    got = [(r["when"], r["category"]) for r in reports]
    want = list(outcome.reports)
    teardown = reports[-1] if reports and reports[-1]["when"] == "teardown" else None
    carried = _shown(teardown, shared) if teardown is not None else set()
    if carried:
        want[-1] = ("teardown", category("teardown", "fail", test))
    assert got == want, f"{test.nodeid}: reports {got}, the model says {want}"
    for report in reports:
        for text in outcome.texts.get(report["when"], []):
            assert text in report["text"], f"{test.nodeid}: {text!r} not in its {report['when']} report"
    for message in carried:
        assert test.nodeid in shared[message], f"{test.nodeid} carries {message!r}, out of its scope"
    if teardown is not None:
        own = {f"teardown failed: {i.key}" for i in outcome.instances if i.own}
        for key in TEARDOWN_ERROR.findall(teardown["text"]):
            message = f"teardown failed: {key}"
            assert message in own or message in carried, f"{test.nodeid}: unexpected {message!r}"
    return carried


def check_every_test(suite: Suite, expected: Expected, run: Run) -> None:
    assert set(run.reports) == set(expected.tests), "tests reported: " + str(sorted(run.reports))
    carriers: dict[str, list[str]] = collections.defaultdict(list)
    for test in suite.tests:
        for message in check_complete(test, expected.tests[test.nodeid], run.reports[test.nodeid], expected.shared_teardown_errors):
            carriers[message].append(test.nodeid)
    for message in expected.shared_teardown_errors:
        assert len(carriers[message]) == 1, f"{message!r} reported by {carriers[message]}"
    _check_totals(run)


def check_stopped_run(suite: Suite, expected: Expected, run: Run) -> bool:
    """The -x guarantees; returns whether a warning about what was left
    set up is due."""
    shared = expected.shared_teardown_errors
    stoppers, carriers = [], collections.Counter()
    for test in suite.tests:
        reports = run.reports.get(test.nodeid, [])
        outcome = expected.tests[test.nodeid]
        if [r["when"] for r in reports] == ["teardown"]:  # cancelled: only its teardown error shows
            (report,) = reports
            assert report["category"] == category("teardown", "fail", test), f"{test.nodeid}: {report}"
            carried = _shown(report, shared)
            own = {f"teardown failed: {i.key}" for i in outcome.instances if i.own}
            assert carried or outcome.may_fail_teardown, f"{test.nodeid}: unexplained teardown error"
            for key in TEARDOWN_ERROR.findall(report["text"]):
                assert f"teardown failed: {key}" in own | carried or outcome.may_fail_teardown, key
        elif reports:
            carried = check_complete(test, outcome, reports, shared)
            if any(r["category"] in FAILING for r in reports):
                stoppers.append(test.nodeid)
        else:
            carried = set()
        carriers.update(carried)
    assert len(stoppers) == 1, f"tests that failed and reported in full: {stoppers}"
    assert all(n == 1 for n in carriers.values()), carriers
    seen_late = all(r["category"] not in FAILING for r in run.reports[stoppers[0]] if r["when"] != "teardown")
    warned = [line for line in run.output.splitlines() if LEFT_OVER in line]
    assert len(warned) <= seen_late, warned
    set_up = {e[1] for e in run.events if e[0] == "setup"}
    for message in shared:
        if message.removeprefix("teardown failed: ") in set_up and not carriers[message]:
            assert warned and message in warned[0], f"{message!r} was set up, its teardown error not reported"
    stop = next(i for i, e in enumerate(run.events) if e[0] == "report" and e[3] == "failing")
    late = [e for e in run.events[stop:] if e[0] in ("start", "begin")]
    assert not late, f"started after the run stopped: {late}"
    _check_totals(run)
    return bool(warned)


def _check_totals(run: Run) -> None:
    """The summary line counts the reports; the exit code says whether any failed."""
    counts = collections.Counter(r["category"] for rs in run.reports.values() for r in rs if r["category"])
    if "error" in counts:
        counts["errors"] = counts.pop("error")
    shown = {k: v for k, v in run.outcomes.items() if k != "warnings"}
    assert shown == dict(counts), f"summary line {shown}, reports {dict(counts)}"
    failing = any(counts[c] for c in ("failed", "errors"))
    assert run.ret == (1 if failing else 0), f"exit code {run.ret}"


def check_fixture_events(events: list[list[str]]) -> None:
    """Every fixture instance set up once and torn down once; what it
    depends on set up before it and torn down only after its teardown is
    done; every test called with live instances."""
    at: dict[str, dict[str, int]] = {"setup": {}, "teardown": {}, "done": {}}
    for i, event in enumerate(events):
        if event[0] in at:
            assert event[1] not in at[event[0]], f"{event[1]}: {event[0]} twice"
            at[event[0]][event[1]] = i
    setups, teardowns = at["setup"], at["teardown"]
    assert set(setups) == set(teardowns), f"set up, not torn down: {set(setups) - set(teardowns)}"
    for key, i in setups.items():
        assert teardowns[key] > i, f"{key} torn down before its setup"
    for i, event in enumerate(events):
        if event[0] not in ("setup", "call"):
            continue
        # a fixture's dependencies outlive its teardown; a test's fixtures, its call
        end = at["done"].get(event[1], teardowns.get(event[1], i)) if event[0] == "setup" else i
        for key in event[2:]:
            assert setups.get(key, i) < i and teardowns.get(key, -1) > end, f"{event}: {key} not live"


def check_tasks(suite: Suite, events: list[list[str]], *, exitfirst: bool) -> None:
    """Tasks start and finish once each, no more at once than the cap, an
    exclusive one alone; a lock is held by one test at a time."""
    cap = suite.max_tasks or 100
    exclusive = {t.nodeid for t in suite.tests if t.exclusive}
    running: set[str] = set()
    started: collections.Counter[str] = collections.Counter()
    holders: dict[str, str] = {}
    for event in events:
        if event[0] == "start":
            assert not (running and (event[1] in exclusive or running & exclusive)), f"{event[1]} with {running}"
            running.add(event[1])
            started[event[1]] += 1
            assert len(running) <= cap, f"{len(running)} tasks at once, cap {cap}"
        elif event[0] == "finish":
            running.remove(event[1])
        elif event[0] == "lock":
            lock, nodeid, sign = event[1:]
            assert holders.get(lock) == (None if sign == "+" else nodeid), f"{event}: held by {holders.get(lock)}"
            holders[lock] = nodeid if sign == "+" else None
    assert not running, running
    assert all(n == 1 for n in started.values()), started
    overlap = suite.sync_tests == "overlap"
    scheduled = {t.nodeid for t in suite.tests if t.cooperative or overlap}
    if exitfirst:
        assert set(started) <= scheduled
    else:
        assert set(started) == scheduled, f"not started: {scheduled - set(started)}"
