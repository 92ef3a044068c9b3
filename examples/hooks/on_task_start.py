# conftest.py: when each cooperative test started, as a property of the
# test in --junitxml reports (a timeline of the run).
import time

from pytest_asyncio_coop import hookimpl


@hookimpl
def on_task_start(task):
    task.item.user_properties.append(("started", f"{time.time():.3f}"))
