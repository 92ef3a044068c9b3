# conftest.py: a test names the service it needs,
# @pytest.mark.asyncio_cooperative(service="db"); a misspelt argument or an
# unknown service is a collection error of that test.
from pytest_asyncio_coop import hookimpl

SERVICES = ("db", "cache", "queue")


def check_service(value):
    if value not in SERVICES:
        raise ValueError(f"service must be one of {', '.join(SERVICES)}")


@hookimpl
def marker_options():
    return {"service": check_service}  # or None: any value


@hookimpl
def on_task_start(task):
    if "service" in task.options:
        task.item.user_properties.append(("service", task.options["service"]))
