# conftest.py: at most two tests of one module run at once; tests of other
# modules start meanwhile.
from pytest_asyncio_coop import Admission, hookimpl

PER_MODULE = 2


@hookimpl
def admit_task(task, running, settings):
    same_module = sum(1 for other in running if other.item.path == task.item.path)
    return Admission.SKIP if same_module >= PER_MODULE else None
