"""Model-based fuzz test: hypothesis generates suites of up to 30 tests
(fixtures of every scope, sync and async, shared and not, failing or skipping
in setup or teardown; tests that pass, fail, skip, xfail, hang into their
timeout, take locks, run exclusively; --max-asyncio-tasks, -x, ...), runs
each in a subprocess (``python -X dev``), and checks the run against the
model (fuzzsuite/model.py, fuzzsuite/check.py): every test reported as the
model says, each phase once; every fixture set up is torn down, once; no
"Task was destroyed", "was never awaited" or ResourceWarning.

CI runs a fixed set of examples (derandomized). More, random ones::

    COOP_FUZZ_EXAMPLES=500 python -m pytest tests/test_fuzz_model.py -p no:randomly

``COOP_FUZZ_PLAIN=1`` also runs each suite (without -x) under plain pytest,
written as sync code without this plugin, and checks the model against it.
"""

import itertools
import os
import sys

from hypothesis import HealthCheck, Phase, given, note, settings

from fuzzsuite.check import Run, check
from fuzzsuite.render import Renderer
from fuzzsuite.spec import suites

EXAMPLES = int(os.environ.get("COOP_FUZZ_EXAMPLES", "0"))
PLAIN = os.environ.get("COOP_FUZZ_PLAIN") == "1"
#: CI's share: about 30 s on a 2-core machine. CI does not shrink a failure
#: (that can take minutes): the same derandomized example fails locally.
CI_EXAMPLES = 40

_numbers = itertools.count()


def run_suite(pytester, suite, *, plain=False):
    directory = pytester.path / f"example{next(_numbers)}{'-plain' if plain else ''}"
    Renderer(suite, plain=plain).write(directory)
    args = ["-p", "no:asyncio_coop"] if plain else suite.args()
    command = [sys.executable, "-X", "dev", "-m", "pytest", str(directory), "--rootdir", str(directory),
               "-p", "no:cacheprovider", *args]
    note(f"ran: {' '.join(command)}")
    result = pytester.run(*command, timeout=300)
    return Run.read(directory, result)


@settings(
    max_examples=EXAMPLES or CI_EXAMPLES,
    derandomize=not EXAMPLES,
    phases=tuple(Phase) if EXAMPLES else (Phase.explicit, Phase.generate),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(suite=suites())
def test_runs_match_the_model(pytester, suite):
    check(suite, run_suite(pytester, suite))
    if PLAIN and not suite.exitfirst:
        check(suite, run_suite(pytester, suite, plain=True), plain=True)
