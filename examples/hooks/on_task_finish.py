# conftest.py: list the tests that came close to their timeout.
from pytest_asyncio_coop import hookimpl

close_calls = []


@hookimpl
def on_task_finish(task):
    took = task.finished_at - task.started_at
    if took > task.timeout / 2:
        close_calls.append(f"{task.nodeid} ({task.outcome}): {took:.1f} s of its {task.timeout:g} s")


def pytest_terminal_summary(terminalreporter):
    if close_calls:
        terminalreporter.write_sep("=", "tests that used over half their timeout")
        for line in close_calls:
            terminalreporter.write_line(line)
