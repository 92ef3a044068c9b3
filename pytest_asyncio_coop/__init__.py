"""Run asyncio tests concurrently on one event loop, through pytest's own machinery.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> defining module. Loaded on first use, because pytest imports
# this package on every start, cooperative tests or not.
_EXPORTS = {
    "hookimpl": "hookspecs",
    "Lock": "lock",
    "Admission": "models",
    "LockInfo": "models",
    "Settings": "models",
    "Task": "models",
    "TaskState": "models",
    "TimeoutAction": "models",
    "HookFailure": "manager",
    "TaskTimeout": "runner",
    "LoopBlocked": "diagnostics",
    "TaskLeak": "diagnostics",
    "TaskLeakWarning": "diagnostics",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from .hookspecs import hookimpl
    from .lock import Lock
    from .manager import HookFailure
    from .models import Admission, LockInfo, Settings, Task, TaskState, TimeoutAction
    from .diagnostics import LoopBlocked, TaskLeak, TaskLeakWarning
    from .runner import TaskTimeout


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
