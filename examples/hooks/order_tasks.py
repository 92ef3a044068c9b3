# conftest.py: tests marked "slow" start first, also on a first run, before
# pytest's cache knows how long each test takes.
from pytest_asyncio_coop import hookimpl


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: start this test before the others")


@hookimpl
def order_tasks(tasks, settings):
    return sorted(tasks, key=lambda task: task.item.get_closest_marker("slow") is None)
