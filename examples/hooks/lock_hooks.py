# conftest.py: how each Lock was used, in the terminal summary.
import time

from pytest_asyncio_coop import hookimpl

acquired_at = {}  # lock name -> when its holder got it
stats = {}  # lock name -> [times acquired, most tests waiting, longest hold]


@hookimpl
def on_lock_acquire(lock, task):
    acquired_at[lock.name] = time.monotonic()
    entry = stats.setdefault(lock.name, [0, 0, 0.0])
    entry[0] += 1
    entry[1] = max(entry[1], lock.waiting)


@hookimpl
def on_lock_release(lock, task):
    entry = stats[lock.name]
    entry[2] = max(entry[2], time.monotonic() - acquired_at.pop(lock.name))


def pytest_terminal_summary(terminalreporter):
    for name, (count, waiting, held) in sorted(stats.items()):
        terminalreporter.write_line(
            f"lock {name}: acquired {count} times, at most {waiting} waiting, held at most {held:.2f} s"
        )
