"""Stand-ins for what other plugins do that would hold the loop.

pytest-rerunfailures waits ``--reruns-delay`` seconds between a test's
attempts with ``time.sleep``, in the test's protocol: in a cooperative test,
the greenlet's, so the loop and every other test stood still. While the
cooperative phase runs, the time module it sees is one whose ``sleep`` waits
on the loop in a test's greenlet, and is ``time.sleep`` anywhere else.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from .bridge import await_only, current_runner
from .runner import TaskTimeout


class _LoopTime:
    """The time module, but for ``sleep`` in a test's greenlet."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        runner = current_runner()
        if runner is None:
            time.sleep(seconds)
            return
        runner.between_attempts = True  # a stop (Ctrl-C, -x) cancels it: no more attempts
        try:
            await_only(asyncio.sleep(seconds), label="pytest-rerunfailures' --reruns-delay")
        except TaskTimeout:
            pass  # the next attempt starts now, and fails with it
        finally:
            runner.between_attempts = False


class RerunDelay:
    """Gives pytest-rerunfailures, if loaded, the loop's time for the phase."""

    def __init__(self) -> None:
        self._module: Any = None

    def start(self) -> None:
        module = sys.modules.get("pytest_rerunfailures")
        if module is not None and getattr(module, "time", None) is time:
            module.time = _LoopTime()
            self._module = module

    def stop(self) -> None:
        if self._module is not None and isinstance(self._module.time, _LoopTime):
            self._module.time = time
        self._module = None
