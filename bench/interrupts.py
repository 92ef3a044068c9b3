"""Ctrl-C at random moments: SIGINT sent to a cooperative run at a random
time after collection, 20 times (each in a fresh process, ``python -X dev``).

Each time:

* every fixture that was set up is torn down: its teardown begun (a Ctrl-C
  that lands in a teardown cuts that one short), as the fixture logs it or,
  should Ctrl-C land in that very logging, as pytest_fixture_post_finalizer
  logs after it; none is set up or torn down twice;
* the exit code is 2, within 60 s (a run that hangs gets SIGABRT, which
  ``-X dev`` answers with the stacks of its threads);
* the output has no traceback, no "Task was destroyed", "was never awaited",
  ResourceWarning or asyncio error, and no line naming the plugin but pytest's
  one line saying where the signal landed (which may be any code).

A signal that comes after the session ended (in pytest's or Python's
shutdown) is not a trial: the moment is drawn again.

    python bench/interrupts.py                 # 20 trials
    python bench/interrupts.py --trials 100 --seed 7

tests/test_interrupts.py covers fixed moments deterministically in CI.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONFTEST = '''
import asyncio
import contextlib
import pathlib
import time

import pytest

LOG = pathlib.Path(__file__).parent / "events.log"
NAMES = ("session_fix", "sync_session_fix", "module_fix", "class_fix", "outer", "inner")


def event(*words):
    with open(LOG, "a") as log:
        log.write(f"{time.monotonic():.6f} " + " ".join(words) + "\\n")


def key(name, request):
    return f"{name}@{request.node.nodeid}"


def pytest_fixture_post_finalizer(fixturedef, request):
    # After the fixture's teardown, also one a Ctrl-C cut short (maybe before
    # the fixture could log it).
    if fixturedef.argname in NAMES:
        event("finalized", key(fixturedef.argname, request))


@contextlib.contextmanager
def logged(request):
    event("setup", key(request.fixturename, request))
    yield
    event("teardown", key(request.fixturename, request))


@contextlib.asynccontextmanager
async def logged_async(request, pause):
    await asyncio.sleep(pause)
    with logged(request):
        yield
    await asyncio.sleep(pause)


@pytest.fixture(scope="session")
async def session_fix(request):
    async with logged_async(request, 0.1):
        yield


@pytest.fixture(scope="session")
def sync_session_fix(request):
    with logged(request):
        yield


@pytest.fixture(scope="module")
async def module_fix(request, session_fix):
    async with logged_async(request, 0.05):
        yield


@pytest.fixture(scope="class")
def class_fix(request):
    with logged(request):
        yield


@pytest.fixture
async def outer(request, module_fix):
    async with logged_async(request, 0.01):
        yield


@pytest.fixture
def inner(request, outer, sync_session_fix):
    with logged(request):
        yield
'''

MODULE = '''
import asyncio
import time

import pytest

pytestmark = pytest.mark.asyncio_cooperative

DURATIONS = {durations!r}


@pytest.mark.parametrize("i", range(len(DURATIONS)))
async def test_function(inner, i):
    await asyncio.sleep(DURATIONS[i])


class TestClass:
    @pytest.mark.parametrize("i", range(len(DURATIONS)))
    async def test_method(self, class_fix, outer, i):
        await asyncio.sleep(DURATIONS[i] / 2)
'''

PLAIN = '''
def test_plain(sync_session_fix):
    pass
'''

BAD = ("Traceback", "INTERNALERROR", "Task was destroyed", "was never awaited", "ResourceWarning",
       "Exception in callback", "exception was never retrieved")


def write_suite(directory: Path, rng: random.Random) -> None:
    (directory / "conftest.py").write_text(CONFTEST)
    (directory / "test_plain.py").write_text(PLAIN)
    for m in range(3):
        durations = [round(rng.uniform(0.0, 0.4), 3) for _ in range(15)]
        (directory / f"test_m{m}.py").write_text(MODULE.format(durations=durations))


def start(directory: Path) -> tuple[subprocess.Popen[str], list[str], float]:
    """Start the run; return once it has collected (with the time of that)."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-p", "no:asyncio", "-p", "no:hypothesispytest", "--max-asyncio-tasks", "20"],
        cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("collected"):
            break
    collected = time.monotonic()
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
    return proc, lines, collected


def phase_at(events: list[tuple[float, str, str]], when: float) -> str:
    """Roughly where the run was: what the last event before ``when`` was."""
    before = [e for e in events if e[0] <= when]
    if not before:
        return "startup"
    if any(kind == "teardown" and what.startswith("session_fix@") for _, kind, what in before):
        return "session teardown"
    return "teardowns" if before[-1][1] == "teardown" else "setups, tests"


def trial(number: int, rng: random.Random, workdir: Path, span: float) -> bool:
    directory = workdir / f"trial{number}"
    directory.mkdir(exist_ok=True)
    (directory / "events.log").unlink(missing_ok=True)
    write_suite(directory, rng)
    delay = rng.uniform(0.0, span)
    proc, lines, collected = start(directory)
    time.sleep(max(0.0, collected + delay - time.monotonic()))
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # -X dev: faulthandler prints where it hangs
        proc.wait(timeout=60)
    time.sleep(0.1)  # the reader thread drains the pipe
    output = "".join(lines)
    if " passed in " in output and "!!! KeyboardInterrupt !!!" not in output:
        # the session had ended: it landed in pytest's or Python's shutdown
        print(f"  trial {number:>3}: SIGINT {delay:5.2f} s after collection came after the session; again")
        return trial(number, rng, workdir, span)
    log = directory / "events.log"
    events = []
    for line in log.read_text().splitlines() if log.exists() else []:
        stamp, kind, what = line.split(" ", 2)
        events.append((float(stamp), kind, what))
    setups = sorted(what for _, kind, what in events if kind == "setup")
    teardowns = sorted(what for _, kind, what in events if kind == "teardown")
    finalized = {what for _, kind, what in events if kind == "finalized"}
    problems = []
    if proc.returncode != 2:
        problems.append(f"exit code {proc.returncode}")
    if len(set(setups)) != len(setups) or len(set(teardowns)) != len(teardowns):
        problems.append("set up or torn down twice")
    missing = sorted(set(setups) - set(teardowns) - finalized)
    if missing:
        problems.append(f"not torn down: {missing}")
    problems += [f"{bad!r} in the output" for bad in BAD if bad in output]
    # pytest's one line saying where the signal landed may name any code; no
    # other line may name the plugin
    where = [line for line in output.splitlines() if line.endswith(": KeyboardInterrupt")]
    problems += [f"the plugin in {line!r}" for line in output.splitlines() if "pytest_asyncio_coop" in line
                 and line not in where]
    print(f"  trial {number:>3}: SIGINT {delay:5.2f} s after collection, during {phase_at(events, sent):<16} "
          f"exit {proc.returncode}, {len(setups):>3} set up, {len(teardowns):>3} torn down  "
          f"{'ok' if not problems else 'FAILED: ' + '; '.join(problems)}"
          f"{'  (landed at ' + where[0].rsplit(': ', 1)[0] + ')' if where and 'pytest_asyncio_coop' in where[0] else ''}",
          flush=True)
    if problems:
        print(f"    (suite and output in {directory})")
        (directory / "output.txt").write_text(output)
    return not problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="for the suites' sleeps and the moments (default: random)")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="coop-interrupts-"))
    # How long a run takes after collection, uninterrupted: the moments are drawn from that span.
    baseline = workdir / "baseline"
    baseline.mkdir()
    write_suite(baseline, random.Random(seed))
    proc, lines, collected = start(baseline)
    proc.wait(timeout=300)
    span = time.monotonic() - collected
    print(f"seed {seed}; an uninterrupted run takes {span:.2f} s after collection (exit {proc.returncode}); "
          f"{options.trials} trials in {workdir}")
    results = [trial(n, rng, workdir, span) for n in range(1, options.trials + 1)]
    print(f"{sum(results)} of {len(results)} trials ok")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
