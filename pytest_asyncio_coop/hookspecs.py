"""The hooks of pytest-asyncio-coop.

Implement them with :data:`pytest_asyncio_coop.hookimpl` in a ``conftest.py``
(they then apply to the tests under that directory), in a pytest plugin, or
in an extension package registered under the entry-point group
``pytest_asyncio_coop``. Hooks are called with keyword arguments.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping, Sequence

import pluggy

if TYPE_CHECKING:
    import asyncio
    import traceback

    from .models import Admission, LockInfo, Settings, Task, TimeoutAction

hookspec = pluggy.HookspecMarker("pytest_asyncio_coop")

#: Marks a function as an implementation of one of these hooks.
hookimpl = pluggy.HookimplMarker("pytest_asyncio_coop")


@hookspec
def on_task_start(task: Task) -> None:
    """A test's task was admitted and is about to run.

    ``task.state`` is ``RUNNING`` and ``task.started_at`` and ``task.deadline``
    are set. An exception raised here fails the test's setup.

    :param task: the task being started.

    .. versionadded:: 0.1
    """


@hookspec
def on_task_finish(task: Task) -> None:
    """A task ended: its outcome and timings are known.

    Called after the test's teardown, before its result reaches the terminal.
    An exception raised here is reported as an error at the test's teardown.

    :param task: the finished task; ``task.outcome`` is ``"passed"``,
        ``"failed"`` or ``"skipped"``, or None for a test that ``-x`` or
        Ctrl-C cancelled (``task.state`` is then ``CANCELLED``; it is not
        counted).

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def on_task_timeout(task: Task) -> TimeoutAction | None:
    """Decide what happens when a test runs past its deadline.

    The default records where the test was waiting (``task.timeout_stack``) and
    cancels it: the test fails with ``TaskTimeout`` and its teardown still runs.

    :param task: the task whose deadline passed; ``task.await_stack()`` tells
        where it is waiting.
    :return: :meth:`TimeoutAction.cancel() <pytest_asyncio_coop.TimeoutAction.cancel>`
        to fail the test now, or :meth:`TimeoutAction.extend(seconds)
        <pytest_asyncio_coop.TimeoutAction.extend>` to move its deadline that
        many seconds past now (the hook is asked again at the new deadline).
        Stops at first non-None result.

    .. versionadded:: 0.1
    """


@hookspec
def on_lock_acquire(lock: LockInfo, task: Task | None) -> None:
    """A :class:`~pytest_asyncio_coop.Lock` was acquired.

    :param lock: the lock's state just after it was acquired.
    :param task: the task that acquired it, or None outside a cooperative test.

    .. versionadded:: 0.1
    """


@hookspec
def on_lock_release(lock: LockInfo, task: Task | None) -> None:
    """A :class:`~pytest_asyncio_coop.Lock` was released.

    :param lock: the lock's state just after it was released.
    :param task: the task that released it, or None outside a cooperative test.

    .. versionadded:: 0.1
    """


@hookspec
def on_loop_blocked(task: Task, duration: float, location: traceback.FrameSummary | None) -> None:
    """A test's code held the event loop longer than ``asyncio_block_threshold``.

    Every other test waited meanwhile. Called once per such stretch of code,
    after it ends; the terminal summary lists the worst ones anyway.

    :param task: the test that held the loop.
    :param duration: how long it held it, in seconds.
    :param location: where the watchdog saw it while it held the loop, or None
        if the stretch ended before the watchdog looked.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def make_event_loop(settings: Settings) -> asyncio.AbstractEventLoop | None:
    """Create the event loop that all cooperative tests of the session run on.

    The loop is closed by the plugin at the end of the cooperative phase.

    :param settings: the run's settings.
    :return: a new, not yet running event loop (for example a uvloop loop).
        Stops at first non-None result.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def order_tasks(tasks: Sequence[Task], settings: Settings) -> Sequence[Task] | None:
    """Order the queued tasks once, before the first one is admitted.

    :param tasks: every cooperative task of the session, queued, in collection
        order.
    :param settings: the run's settings.
    :return: the same tasks in the order to admit them. Tasks left out are
        appended in their original order. Stops at first non-None result.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def admit_task(task: Task, running: Collection[Task], settings: Settings) -> Admission | None:
    """Decide whether the next queued task may start now.

    Asked for the task at the head of the queue (then the ones after it, while
    the answer is ``SKIP``) whenever a slot under ``max_asyncio_tasks`` is free.

    :param task: the queued task being considered.
    :param running: the tasks running now.
    :param settings: the run's settings.
    :return: ``Admission.ADMIT`` to start it; ``Admission.SKIP`` to leave it
        queued and consider the next one; ``Admission.WAIT`` to start nothing
        more until a running task finishes. If every queued task is held back
        while none runs, they are admitted in order with a warning, so the run
        never hangs. Stops at first non-None result.

    .. versionadded:: 0.1
    """


@hookspec
def marker_options() -> Mapping[str, Callable[[Any], object] | None]:
    """Declare the keyword arguments of the ``asyncio_cooperative`` marker that
    this plugin reads (from ``task.options``).

    Asked once per directory of tests, at collection. A test whose marker has
    an argument that no plugin declares, or a value that a check rejects, is a
    collection error that names the test.

    :return: argument name -> a check, called with the marker's value, that
        raises ``ValueError`` or ``TypeError`` saying what is accepted when the
        value is bad; or None to accept any value.

    .. versionadded:: 0.1
    """
