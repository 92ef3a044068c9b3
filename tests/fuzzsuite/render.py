"""Writes a generated suite out as files: helpers.py (the event log, locks,
hangs), conftest.py (the fixtures, a report recorder and this plugin's hooks)
and one test module per module of the suite.

Every fixture returns its key, ``name@<node id of its scope node>``, and logs
``setup`` (with the keys it got), ``teardown`` and, once its teardown code
has run, ``done`` with it; a test logs ``call`` with the keys it got.
``plain=True`` writes the same suite for pytest without this plugin (sync
code, no locks, a hang is an immediate error) to check the model against
pytest itself.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from .spec import HANG_TIMEOUT, Fixture, Suite, Test

HELPERS = """
import asyncio
import json
import pathlib

from pytest_asyncio_coop import Lock

HERE = pathlib.Path(__file__).parent
LOCKS = (Lock("L0"), Lock("L1"))
#: node ids of the tests waiting in a hang now
HANGING = set()


def event(*words):
    with open(HERE / "events.log", "a") as log:
        log.write(" ".join(words) + "\\n")


def record(report, category):
    with open(HERE / "reports.jsonl", "a") as out:
        out.write(json.dumps({
            "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
            "category": category, "text": report.longreprtext,
        }) + "\\n")


async def hang(nodeid):
    HANGING.add(nodeid)
    try:
        await asyncio.sleep(3600)
    finally:
        HANGING.discard(nodeid)


def plain_hang(nodeid):
    raise TimeoutError("hang of " + nodeid)
"""

CONFTEST = f"""
import asyncio
import time

import pytest
from pytest_asyncio_coop import TimeoutAction, hookimpl

from helpers import HANGING, event, hang, plain_hang, record

_config = []


def pytest_configure(config):
    _config.append(config)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    event("begin", item.nodeid)


def pytest_runtest_logreport(report):
    config = _config[0]
    category = config.hook.pytest_report_teststatus(report=report, config=config)[0]
    failing = report.failed and not hasattr(report, "wasxfail")
    event("report", report.nodeid, report.when, "failing" if failing else "ok")
    record(report, category)


@hookimpl
def on_task_start(task):
    event("start", task.nodeid)


@hookimpl
def on_task_finish(task):
    event("finish", task.nodeid)


@hookimpl
def on_task_timeout(task):
    # Only a hang times out: anything else slow (a loaded machine) waits on.
    if task.nodeid in HANGING:
        return None
    event("extend", task.nodeid)
    return TimeoutAction.extend({HANG_TIMEOUT})
"""

#: fixtures for the tests that hang in setup or teardown (only the test
#: that hangs uses one, and it has a short timeout)
HANG_FIXTURES = (
    Fixture("hang_setup", "function", True, False, (), "hang", "ok", 0.0, 0.0),
    Fixture("hang_teardown", "function", True, False, (), "ok", "hang", 0.0, 0.0),
)


class Renderer:
    def __init__(self, suite: Suite, plain: bool = False) -> None:
        self.suite = suite
        self.plain = plain

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "helpers.py").write_text(HELPERS)
        fixtures = "".join(self.fixture(f) for f in (*self.suite.fixtures, *HANG_FIXTURES))
        (directory / "conftest.py").write_text(CONFTEST + fixtures)
        for module in sorted({t.module for t in self.suite.tests}):
            tests = [t for t in self.suite.tests if t.module == module]
            (directory / f"test_m{module}.py").write_text(self.module(tests))

    def _def(self, is_async: bool) -> str:
        return "async def" if is_async and not self.plain else "def"

    def _sleep(self, seconds: float, is_async: bool) -> list[str]:
        if not seconds or self.plain:
            return []
        return [f"await asyncio.sleep({seconds})" if is_async else f"time.sleep({seconds})"]

    def _hang(self, nodeid: str) -> str:
        return f"plain_hang({nodeid})" if self.plain else f"await hang({nodeid})"

    def fixture(self, f: Fixture) -> str:
        head = f"@pytest.fixture(scope={f.scope!r}, autouse={f.autouse})\n"
        head += f"{self._def(f.is_async)} {f.name}({', '.join(('request', *f.deps))}):\n"
        body = [f'key = "{f.name}@" + request.node.nodeid', *self._sleep(f.setup_sleep, f.is_async)]
        body += {
            "fail": ['raise RuntimeError("setup failed: " + key)'],
            "skip": ['pytest.skip("setup skipped: " + key)'],
            "hang": [self._hang("request.node.nodeid")],
        }.get(f.setup, [])
        body += [f'event("setup", key{"".join(", " + d for d in f.deps)})', "yield key", 'event("teardown", key)']
        body += [*self._sleep(f.teardown_sleep, f.is_async), 'event("done", key)']
        body += {
            "fail": ['raise RuntimeError("teardown failed: " + key)'],
            "hang": [self._hang("request.node.nodeid")],
        }.get(f.teardown, [])
        return "\n\n" + head + textwrap.indent("\n".join(body), "    ") + "\n"

    def module(self, tests: list[Test]) -> str:
        out = ["import asyncio", "import time", "", "import pytest", "",
               "from helpers import LOCKS, event, hang, plain_hang", ""]
        for test in (t for t in tests if t.cls is None):
            out += ["", *self.test(test, "")]
        for cls in sorted({t.cls for t in tests if t.cls is not None}):
            out += ["", f"class TestC{cls}:"]
            for test in (t for t in tests if t.cls == cls):
                out += ["", *self.test(test, "    ")]
        return "\n".join(out) + "\n"

    def _marks(self, test: Test) -> list[str]:
        marks = []
        if test.cooperative and not self.plain:
            options = {"timeout": test.timeout, "exclusive": test.exclusive or None}
            given = ", ".join(f"{k}={v!r}" for k, v in options.items() if v is not None)
            marks.append("@pytest.mark.asyncio_cooperative" + (f"({given})" if given else ""))
        marks += {
            "skip": ["@pytest.mark.skip"],
            "xfail": ["@pytest.mark.xfail"],
            "xfail_strict": ["@pytest.mark.xfail(strict=True)"],
        }.get(test.mark or "", [])
        return marks

    def test(self, test: Test, indent: str) -> list[str]:
        is_async = test.kind == "async"
        hang_fixture = {"setup": ("hang_setup",), "teardown": ("hang_teardown",)}.get(test.hang or "", ())
        args = (("self",) if test.cls is not None else ()) + test.fixtures + hang_fixture
        nodeid = repr(test.nodeid)
        body = [f"event(\"call\", {nodeid}{''.join(', ' + a for a in test.fixtures + hang_fixture)})"]
        if test.lock is not None and not self.plain:
            body += [f"async with LOCKS[{test.lock}]:"]
            inner = [f'event("lock", "L{test.lock}", {nodeid}, "+")', *self._sleep(test.sleep, True),
                     f'event("lock", "L{test.lock}", {nodeid}, "-")']
            body += ["    " + line for line in inner]
        else:
            body += self._sleep(test.sleep, is_async)
        if test.hang == "call":
            body.append(self._hang(nodeid))
        body += {
            "fail": [f'assert False, "test failed: " + {nodeid}'],
            "skip": [f'pytest.skip("test skipped: " + {nodeid})'],
        }.get(test.body, [])
        lines = [*self._marks(test), f"{self._def(is_async)} {test.name}({', '.join(args)}):"]
        lines += ["    " + line for line in body]
        return [indent + line for line in lines]
