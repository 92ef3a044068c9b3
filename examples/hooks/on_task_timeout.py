# conftest.py: a test marked "slow" gets its timeout once more before it
# is cancelled.
from pytest_asyncio_coop import TimeoutAction, hookimpl

extended = set()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: may run for twice its timeout")


@hookimpl
def on_task_timeout(task):
    if task.item.get_closest_marker("slow") and task.nodeid not in extended:
        extended.add(task.nodeid)
        return TimeoutAction.extend(task.timeout)
    return None  # the default: record where the test waits, and cancel it
