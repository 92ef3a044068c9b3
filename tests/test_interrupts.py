"""Ctrl-C at fixed moments of a run, sent by the run itself (os.kill of its
own process at a chosen point, once), so that each moment is hit for certain:
every fixture that was set up is torn down, the exit code is 2, and the
plugin shows no traceback of its own. While the loop runs, the first Ctrl-C
is not raised where it lands, which could be inside asyncio's own code and
hang the run, but handed to the loop (pytest_asyncio_coop/interrupt.py).
bench/interrupts.py sends SIGINT at random moments instead."""

import subprocess
import sys

import pytest

SUITE = {
    "conftest.py": """
import asyncio
import os
import pathlib
import signal

import pytest

MOMENT = os.environ["INTERRUPT_AT"]
LOG = pathlib.Path(__file__).parent / "events.log"
sent = []


def event(*words):
    with open(LOG, "a") as log:
        log.write(" ".join(words) + "\\n")


def interrupt(moment):
    if moment == MOMENT and not sent:
        sent.append(moment)
        event("interrupt", moment)
        os.kill(os.getpid(), signal.SIGINT)
        event("after", moment)


@pytest.fixture(scope="session")
def session_fix():
    event("setup", "session")
    yield
    event("teardown", "session")


@pytest.fixture
def plain_outer():
    event("setup", "plain outer")
    yield
    event("teardown", "plain outer")


@pytest.fixture
def plain_inner(plain_outer):
    event("setup", "plain inner")
    yield
    event("teardown", "plain inner")
    interrupt("plain teardown")


@pytest.fixture(scope="module")
async def module_fix(session_fix):
    await asyncio.sleep(0.05)  # the other tests wait for it meanwhile
    interrupt("shared setup")
    event("setup", "module")
    yield
    event("teardown", "module")
    await asyncio.sleep(0.01)


@pytest.fixture
async def outer(request):
    event("setup", "outer", request.node.name)
    yield
    event("teardown", "outer", request.node.name)
    await asyncio.sleep(0.01)


@pytest.fixture
async def inner(request, outer):
    event("setup", "inner", request.node.name)
    yield
    event("teardown", "inner", request.node.name)
    interrupt("teardown")
    await asyncio.sleep(0.01)
""",
    "test_a_plain.py": """
from conftest import interrupt


def test_plain(session_fix, plain_inner):
    interrupt("plain test")
""",
    "test_b_coop.py": """
import asyncio
import os
import signal

import pytest

from conftest import event, interrupt, sent

pytestmark = pytest.mark.asyncio_cooperative


def ctrl_c_from_the_loop():
    os.kill(os.getpid(), signal.SIGINT)
    event("after", "sleeping")


@pytest.mark.parametrize("n", range(4))
async def test_sleeps(module_fix, inner, n):
    if n == 0 and os.environ["INTERRUPT_AT"] == "sleeping" and not sent:
        # from the loop, between the tests' steps, as a real Ctrl-C comes
        sent.append("sleeping")
        event("interrupt", "sleeping")
        asyncio.get_running_loop().call_later(0.1, ctrl_c_from_the_loop)
    await asyncio.sleep(0.3 if n < 3 else 0.01)
""",
}

#: in a plain test, before the loop runs, KeyboardInterrupt is raised where
#: the signal lands, as in plain pytest; on the loop, the loop stops the run
#: once the code that was running when it came is done
RAISED_AT_ONCE = {"plain test": True, "plain teardown": True, "shared setup": False, "sleeping": False, "teardown": False}


@pytest.mark.parametrize("moment", RAISED_AT_ONCE)
def test_ctrl_c_at_a_fixed_moment_tears_everything_down(pytester, moment, monkeypatch):
    for name, source in SUITE.items():
        (pytester.path / name).write_text(source)
    monkeypatch.setenv("INTERRUPT_AT", moment)
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=pytester.path, capture_output=True, text=True, timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    events = [line.split(" ", 1) for line in (pytester.path / "events.log").read_text().splitlines()]
    assert ["interrupt", moment] in events, output
    assert (["after", moment] not in events) is RAISED_AT_ONCE[moment], output
    setups = [what for kind, what in events if kind == "setup"]
    teardowns = [what for kind, what in events if kind == "teardown"]
    assert setups, output
    assert sorted(setups) == sorted(teardowns), output
    lines = output.splitlines()
    assert "KeyboardInterrupt" in output
    (where,) = [line for line in lines if line.endswith(": KeyboardInterrupt")]
    assert "pytest_asyncio_coop" not in where, output
    for bad in ("Traceback", "INTERNALERROR", "pytest_asyncio_coop", "Task was destroyed", "was never awaited",
                "ResourceWarning", "warnings summary"):
        assert bad not in output, output
