"""Per-resource concurrency limits for pytest-asyncio-coop, built only on its hooks.

Tests marked ``@pytest.mark.asyncio_cooperative(resource="db")`` never run
more than ``LIMITS.get("db", DEFAULT_LIMIT)`` at a time; other tests keep
running beside them.
"""

from __future__ import annotations

from pytest_asyncio_coop import Admission, hookimpl

#: how many tests may use a resource at once, unless LIMITS says otherwise
DEFAULT_LIMIT = 2
#: resource name -> how many tests may use it at once
LIMITS: dict[str, int] = {}


def _check_resource(value: object) -> None:
    if not isinstance(value, str):
        raise TypeError("resource must be the name of a resource, a str")


@hookimpl
def marker_options():
    """Declare the marker argument this extension reads."""
    return {"resource": _check_resource}


@hookimpl
def admit_task(task, running, settings):
    resource = task.options.get("resource")
    if resource is None:
        return None
    in_use = sum(1 for other in running if other.options.get("resource") == resource)
    if in_use >= LIMITS.get(resource, DEFAULT_LIMIT):
        return Admission.SKIP  # let tests that need something else start meanwhile
    return None
