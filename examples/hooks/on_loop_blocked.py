# conftest.py: each time a test held up the others, as a property of the
# test in --junitxml reports.
from pytest_asyncio_coop import hookimpl


@hookimpl
def on_loop_blocked(task, duration, location):
    where = f"{location.filename}:{location.lineno}" if location else "unknown"
    task.item.user_properties.append(("blocked_loop", f"{duration:.2f} s at {where}"))
