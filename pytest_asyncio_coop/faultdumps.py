"""``faulthandler_timeout`` for interleaved tests.

pytest's faulthandler plugin arms ``faulthandler.dump_traceback_later`` as a
test's protocol starts and cancels it as the protocol ends. There is one such
timer per process: with tests interleaved, each test's start armed it anew
and the first test to end cancelled it for all, so no test ever had its dump.
While the cooperative phase runs, the two functions are replaced: called in
a cooperative test, they set and clear that test's own deadline, and the
process's timer is armed for the earliest. A test that overruns has its dump,
once, as with pytest alone; the timer's header gives the time that was left
when it was armed. Called anywhere else, they are the module's own.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import faulthandler
import sys
from typing import TYPE_CHECKING, Any

from .bridge import current_runner
from .deadlines import Deadline, Deadlines, monotonic

if TYPE_CHECKING:
    from .runner import TaskRunner

_NAMES = ("dump_traceback_later", "cancel_dump_traceback_later")
# how long after a deadline its timer is taken to have gone off: re-arming
# the timer before then would cancel the dump
_MARGIN = 0.25


class TracebackDumps:
    def __init__(self) -> None:
        self._module_functions: dict[str, Any] = {}
        # test -> its deadline, and the arguments of its dump
        self._deadlines: dict[TaskRunner, tuple[float, float, Any, bool]] = {}
        # the test the process's timer is armed for, and when it goes off
        # (by the real clock: a test may patch the loop's)
        self._armed: TaskRunner | None = None
        self._gone_off: Deadline | None = None
        self._clock: Deadlines | None = None

    def start(self, clock: Deadlines) -> None:
        self._clock = clock
        for name in _NAMES:
            self._module_functions[name] = getattr(faulthandler, name)
        faulthandler.dump_traceback_later = self.dump_traceback_later
        faulthandler.cancel_dump_traceback_later = self.cancel_dump_traceback_later

    def stop(self) -> None:
        for name, function in self._module_functions.items():
            setattr(faulthandler, name, function)
        if self._armed is not None:
            faulthandler.cancel_dump_traceback_later()
        self._deadlines.clear()
        self._armed = self._clock = None
        if self._gone_off is not None:
            self._gone_off.cancel()
            self._gone_off = None

    def dump_traceback_later(self, timeout: float, repeat: bool = False, file: Any = None, exit: bool = False) -> None:
        runner = current_runner()
        file = sys.stderr if file is None else file
        if runner is None or repeat:
            self._module_functions["dump_traceback_later"](timeout, repeat=repeat, file=file, exit=exit)
            return
        if timeout <= 0:
            raise ValueError("timeout must be greater than 0")
        deadline = monotonic() + timeout
        self._deadlines[runner] = (deadline, timeout, file, exit)
        if self._armed is None or runner is self._armed or deadline < self._deadlines[self._armed][0]:
            self._arm(fresh=runner)

    def cancel_dump_traceback_later(self) -> None:
        runner = current_runner()
        if runner is None:
            self._module_functions["cancel_dump_traceback_later"]()
            return
        self._deadlines.pop(runner, None)
        if runner is self._armed:
            self._arm()

    def _arm(self, fresh: TaskRunner | None = None) -> None:
        """Arm the process's timer for the earliest deadline, if any (for the
        whole timeout, if it is that of the ``fresh`` test)."""
        if self._gone_off is not None:
            self._gone_off.cancel()
            self._gone_off = None
        self._armed = None
        if not self._deadlines:
            self._module_functions["cancel_dump_traceback_later"]()
            return
        runner, (deadline, timeout, file, exit) = min(self._deadlines.items(), key=lambda entry: entry[1][0])
        if runner is not fresh:
            timeout = max(deadline - monotonic(), 0.001)
        self._module_functions["dump_traceback_later"](timeout, file=file, exit=exit)
        self._armed = runner
        assert self._clock is not None
        self._gone_off = self._clock.add(deadline + _MARGIN, self._next)

    def _next(self) -> None:
        """The timer went off (its dump is out, even if the loop was held up
        meanwhile): the test it was armed for has had its one dump."""
        self._gone_off = None
        if self._armed is not None:
            self._deadlines.pop(self._armed, None)
        self._arm()
