"""Soak: a long cooperative run, every test accounted for, and memory that
does not grow with the number of tests finished.

    python bench/soak.py                    # 20,000 tests, checkpoint at 5,000
    python bench/soak.py --tests 8000 --checkpoint 2000

The suite has a session, a module and a function fixture (async, with
teardown) and, of every 100 tests, 10 that fail, 5 that time out and 2 whose
function fixture fails at setup; the others pass. Every test sleeps a few
milliseconds.

Every test is accounted for: the counts of pytest's summary line and of the
reports (a small conftest plugin counts them) must both be exact.

Memory: the conftest plugin reads the process's peak RSS (VmHWM) when
collection is done, when ``--checkpoint`` tests have finished, and when all
have. "Beyond collection" is the peak minus the peak at collection. Its
growth from the checkpoint to the end must stay within 1.3 times. Each
suite runs twice: as is, and without pytest's terminal reporter
(``-p no:terminal``), which keeps a report of every test, failures with
their tracebacks, so that what grows there is pytest's own. The same suite
written as sync tests runs under plain pytest for comparison. Every run
leaves out pytest-rerunfailures (installed with the test extra), which keeps
every failing test's exception and, through it, the test's frames. The peak
of a separate ``--collect-only`` run and of the whole run are shown too.

Exit code 0 when every count is exact and the growth of the cooperative
run without the terminal reporter is within the limit. (With it, plain
pytest grows more than the cooperative run does: that growth is pytest's.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT = 1.3
#: of every 100 tests: what the first ones do (the rest pass)
SHARES = (("fail", 10), ("timeout", 5), ("setup_error", 2))

# which tests fail, time out or fail at setup, by index (both suites)
KIND = '''
SHARES = {shares!r}


def kind(i):
    i %= 100
    for name, share in SHARES:
        if i < share:
            return name
        i -= share
    return "pass"
'''

SUITE = '''
import asyncio

import pytest

{kind}

@pytest.fixture(scope="session")
async def session_resource():
    await asyncio.sleep(0.01)
    yield {{}}
    await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
async def module_resource(session_resource):
    yield []
    await asyncio.sleep(0.01)


@pytest.fixture
async def resource(request, module_resource):
    if kind(request.node.callspec.params["i"]) == "setup_error":
        raise RuntimeError("setup failed")
    yield bytearray(1000)
    await asyncio.sleep(0)


CASES = [
    pytest.param(i, marks=[pytest.mark.asyncio_cooperative(timeout=1)] if kind(i) == "timeout" else [])
    for i in range({n})
]


@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("i", CASES)
async def test_soak(resource, i):
    what = kind(i)
    await asyncio.sleep((i % 7) / 1000)
    if what == "timeout":
        await asyncio.sleep(60)
    assert what != "fail", f"test {{i}} fails"
'''

PLAIN_SUITE = '''
import pytest

{kind}

@pytest.fixture(scope="session")
def session_resource():
    yield {{}}


@pytest.fixture(scope="module")
def module_resource(session_resource):
    yield []


@pytest.fixture
def resource(request, module_resource):
    if kind(request.node.callspec.params["i"]) == "setup_error":
        raise RuntimeError("setup failed")
    yield bytearray(1000)


@pytest.mark.parametrize("i", range({n}))
def test_soak(resource, i):
    what = kind(i)
    if what == "timeout":
        raise TimeoutError("timed out")
    assert what != "fail", f"test {{i}} fails"
'''

# Counts the reports and reads the peak RSS at the checkpoints.
CONFTEST = '''
import collections
import json

CHECKPOINT = {checkpoint}
COUNTS = collections.Counter()
PEAKS = {{}}
FINISHED = [0]


def peak_mb():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def pytest_collection_finish(session):
    PEAKS["collection"] = peak_mb()


def pytest_runtest_logreport(report):
    if report.failed and report.when != "call":
        COUNTS["errors"] += 1
    elif report.when == "call":
        COUNTS[report.outcome] += 1
    if report.when == "teardown":
        FINISHED[0] += 1
        if FINISHED[0] == CHECKPOINT:
            PEAKS["checkpoint"] = peak_mb()


def pytest_sessionfinish(session):
    PEAKS["end"] = peak_mb()
    with open("soak.json", "w") as out:
        json.dump({{"counts": COUNTS, "peaks": PEAKS, "finished": FINISHED[0]}}, out)
'''

COMMON = ["-p", "no:randomly", "-p", "no:asyncio", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
          "-p", "no:rerunfailures"]


def expected_counts(n: int) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "errors": 0}
    for i in range(n):
        j, what = i % 100, "pass"
        for name, share in SHARES:
            if j < share:
                what = name
                break
            j -= share
        counts[{"pass": "passed", "fail": "failed", "timeout": "failed", "setup_error": "errors"}[what]] += 1
    return counts


def run(directory: Path, *args: str) -> dict:
    """Run pytest in a fresh process: wall time, peak RSS (MB), exit code, output."""
    out_path = directory / "output.txt"
    start = time.monotonic()
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *COMMON, *args], cwd=directory, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return {"wall": time.monotonic() - start, "rss_mb": usage.ru_maxrss / 1024,
            "rc": os.waitstatus_to_exitcode(status), "output": out_path.read_text()}


def summary_counts(output: str) -> dict[str, int]:
    last = output.strip().splitlines()[-1] if output.strip() else ""
    found = {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", last)}
    return {("errors" if word == "error" else word): number for word, number in found.items() if word != "warnings"}


def soak(workdir: Path, n: int, checkpoint: int, *, plain: bool, terminal: bool) -> dict:
    name = f"{'plain' if plain else 'coop'}-{'terminal' if terminal else 'quiet'}-{n}"
    directory = workdir / name
    directory.mkdir()
    source = PLAIN_SUITE if plain else SUITE
    (directory / "test_soak.py").write_text(source.format(kind=KIND.format(shares=SHARES), n=n))
    (directory / "conftest.py").write_text(CONFTEST.format(checkpoint=checkpoint))
    args = (["-p", "no:asyncio_coop"] if plain else []) + (["-q"] if terminal else ["-p", "no:terminal"])
    collected = run(directory, "--collect-only", *args)
    result = run(directory, *args)
    recorded = json.loads((directory / "soak.json").read_text())
    peaks = recorded["peaks"]
    want = expected_counts(n)
    problems = []
    if recorded["counts"] != want or recorded["finished"] != n:
        problems.append(f"reports counted {recorded['counts']} for {recorded['finished']} tests, expected {want}")
    if terminal and summary_counts(result["output"]) != want:
        problems.append(f"summary line {summary_counts(result['output'])}, expected {want}")
    if terminal and not plain and f"cooperative: {n} tests" not in result["output"]:
        problems.append("the cooperative summary line does not count every test")
    if result["rc"] != 1:
        problems.append(f"exit code {result['rc']}")
    at_checkpoint = peaks["checkpoint"] - peaks["collection"]
    at_end = peaks["end"] - peaks["collection"]
    figures = {
        "run": name, "tests": n, "wall_s": round(result["wall"], 1), "rss_mb": round(result["rss_mb"], 1),
        "collect_only_rss_mb": round(collected["rss_mb"], 1), "peak_at_collection_mb": round(peaks["collection"], 1),
        f"beyond_collection_at_{checkpoint}_mb": round(at_checkpoint, 1),
        f"beyond_collection_at_{n}_mb": round(at_end, 1), "growth": round(at_end / at_checkpoint, 2),
        "counts": recorded["counts"], "problems": problems,
    }
    print(f"  {name:<22} wall {figures['wall_s']:6.1f} s  peak RSS {figures['rss_mb']:6.1f} MB "
          f"(--collect-only {figures['collect_only_rss_mb']:5.1f} MB)  beyond collection: "
          f"{at_checkpoint:5.1f} MB at {checkpoint}, {at_end:5.1f} MB at {n} = {figures['growth']:.2f}x  "
          f"{'counts ok' if not problems else 'PROBLEMS: ' + '; '.join(problems)}", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=20000)
    parser.add_argument("--checkpoint", type=int, default=5000)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="coop-soak-"))
    print(f"soak: {options.tests} tests, checkpoint at {options.checkpoint}, in {workdir}")
    results = [
        soak(workdir, options.tests, options.checkpoint, plain=plain, terminal=terminal)
        for terminal in (True, False) for plain in (False, True)
    ]
    (quiet,) = [r for r in results if r["run"].startswith("coop-quiet")]
    ok = not any(r["problems"] for r in results) and quiet["growth"] <= LIMIT
    print(f"every test accounted for, and the cooperative run's memory beyond collection (without the terminal "
          f"reporter) grows {quiet['growth']:.2f}x from {options.checkpoint} to {options.tests} tests finished "
          f"(limit {LIMIT}x): {'ok' if ok else 'FAILED'}")
    if options.out:
        options.out.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
