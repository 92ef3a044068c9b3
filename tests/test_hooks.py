"""This plugin's own hooks: each one implemented from a conftest, where
implementations come from (conftest scope, plugins, entry points), and what
happens when one is misnamed or raises."""

import textwrap

import pytest

from pytest_asyncio_coop import hookspecs

HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "pytest_asyncio_coop_spec"))

REPORTER = """
import pytest

lines = []

def pytest_terminal_summary(terminalreporter):
    for line in lines:
        terminalreporter.write_line("HOOK " + line)
"""


def hook_lines(result):
    return [line[len("HOOK ") :] for line in result.outlines if line.startswith("HOOK ")]


def test_hook_on_task_start(pytester):
    pytester.makeconftest(
        REPORTER
        + """
from pytest_asyncio_coop import hookimpl

@hookimpl
def marker_options():
    return {"resource": None}

@hookimpl
def on_task_start(task):
    assert task.deadline == task.started_at + task.timeout
    lines.append(f"start {task.item.name} {task.state.value} {task.options}")
"""
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(resource="db")
        async def test_one():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert hook_lines(result) == ["start test_one running {'resource': 'db'}"]


def test_hook_on_task_finish(pytester):
    pytester.makeconftest(
        REPORTER
        + """
from pytest_asyncio_coop import hookimpl

@hookimpl
def on_task_finish(task):
    took = task.finished_at - task.started_at
    lines.append(f"finish {task.item.name} {task.state.value} {task.outcome} {took >= 0.2}")
"""
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_pass():
            await asyncio.sleep(0.2)

        async def test_fail():
            await asyncio.sleep(0.2)
            assert False

        async def test_skip():
            await asyncio.sleep(0.2)
            pytest.skip("no")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert sorted(hook_lines(result)) == [
        "finish test_fail finished failed True",
        "finish test_pass finished passed True",
        "finish test_skip finished skipped True",
    ]


def test_hook_on_task_timeout(pytester):
    pytester.makeconftest(
        REPORTER
        + """
from pytest_asyncio_coop import TimeoutAction, hookimpl

@hookimpl
def marker_options():
    return {"extend": None}

@hookimpl
def on_task_timeout(task):
    if task.options.get("extend") and not task.item.stash.get(extended, False):
        task.item.stash[extended] = True
        lines.append(f"extended {task.item.name}")
        return TimeoutAction.extend(1)
    return None  # the default decides: record the stack, cancel

extended = pytest.StashKey[bool]()

@hookimpl
def on_task_finish(task):
    if task.timeout_stack:
        lines.append(f"stack {task.item.name} {task.timeout_stack[0].name} {task.timeout_stack[-1].name}")
"""
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative(extend=True)
        async def test_extended_once():
            await asyncio.sleep(1.3)

        async def helper():
            await asyncio.sleep(5)

        @pytest.mark.asyncio_cooperative
        async def test_default_cancels():
            await helper()
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "0.8")
    result.assert_outcomes(passed=1, failed=1)
    assert sorted(hook_lines(result)) == [
        "extended test_extended_once",
        "stack test_default_cancels test_default_cancels sleep",
    ]


def test_hook_on_lock_acquire(pytester):
    _lock_hooks(pytester)


def test_hook_on_lock_release(pytester):
    _lock_hooks(pytester)


def _lock_hooks(pytester):
    pytester.makeconftest(
        REPORTER
        + """
from pytest_asyncio_coop import hookimpl

@hookimpl
def on_lock_acquire(lock, task):
    lines.append(f"acquire {lock.name} {lock.locked} {lock.holder == task.nodeid} {task.item.name}")

@hookimpl
def on_lock_release(lock, task):
    lines.append(f"release {lock.name} {lock.locked} {lock.holder} {task.item.name}")
"""
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_asyncio_coop import Lock

        db = Lock("db")

        @pytest.mark.asyncio_cooperative
        async def test_user():
            async with db():
                await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert hook_lines(result) == ["acquire db True True test_user", "release db False None test_user"]


def test_hook_on_loop_blocked(pytester):
    pytester.makeconftest(
        REPORTER
        + """
from pytest_asyncio_coop import hookimpl

@hookimpl
def on_loop_blocked(task, duration, location):
    lines.append(f"blocked {task.item.name} {duration > 0.25} {location.name if location else None}")
"""
    )
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        def busy():
            time.sleep(0.5)

        @pytest.mark.asyncio_cooperative
        async def test_blocks():
            await asyncio.sleep(0.01)
            busy()
            await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        async def test_polite():
            await asyncio.sleep(0.2)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert hook_lines(result) == ["blocked test_blocks True busy"]


def test_hook_make_event_loop(pytester):
    pytester.makeconftest(
        """
        import asyncio
        from pytest_asyncio_coop import hookimpl

        class MyLoop(asyncio.SelectorEventLoop):
            pass

        @hookimpl
        def make_event_loop(settings):
            assert settings.max_tasks == 100
            return MyLoop()
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_loop():
            assert type(asyncio.get_running_loop()).__name__ == "MyLoop"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_hook_order_tasks(pytester):
    pytester.makeconftest(
        """
        from pytest_asyncio_coop import hookimpl

        @hookimpl
        def order_tasks(tasks, settings):
            return list(reversed(tasks))
        """
    )
    pytester.makepyfile(
        """
        import pytest

        order = []

        @pytest.mark.asyncio_cooperative
        async def test_first_in_file_runs_last():
            assert order == [4, 3, 2, 1, 0]

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_n(n):
            order.append(n)
        """
    )
    pytester.runpytest("--max-asyncio-tasks", "1").assert_outcomes(passed=6)


def test_hook_admit_task(pytester):
    pytester.makeconftest(
        """
        import pytest
        from pytest_asyncio_coop import Admission, hookimpl

        passed_over = pytest.StashKey[bool]()

        @hookimpl
        def marker_options():
            return {"alone": None, "late": None}

        @hookimpl
        def admit_task(task, running, settings):
            # "alone" tests wait for an empty loop; nothing starts beside them.
            if task.options.get("alone") and running:
                return Admission.WAIT
            if any(t.options.get("alone") for t in running):
                return Admission.WAIT
            # "late" tests let the next one overtake them once.
            if task.options.get("late") and not task.item.stash.get(passed_over, False):
                task.item.stash[passed_over] = True
                return Admission.SKIP
            return None
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        running = set()
        log = []

        async def work(name, seconds=0.1):
            running.add(name)
            log.append((name, frozenset(running)))
            await asyncio.sleep(seconds)
            running.discard(name)

        @pytest.mark.asyncio_cooperative(late=True)
        async def test_late():
            await work("late")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_a(n):
            await work(f"a{n}")

        @pytest.mark.asyncio_cooperative(alone=True)
        async def test_alone():
            await work("alone")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_b(n):
            await work(f"b{n}")

        def test_zz_check():
            pass

        @pytest.fixture(scope="session", autouse=True)
        def check_log():
            yield
            seen = {name: others for name, others in log}
            assert seen["alone"] == {"alone"}, seen
            print("ADMISSION", [name for name, _ in log])
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=9)
    (line,) = [line for line in result.outlines if "ADMISSION " in line]
    order = eval(line.split("ADMISSION ", 1)[1])
    assert order[:2] == ["a0", "late"]
    assert order.index("alone") > max(order.index(f"a{n}") for n in range(3))
    assert order.index("alone") < min(order.index(f"b{n}") for n in range(3))


def test_admit_task_that_holds_back_everything_does_not_hang(pytester):
    pytester.makeconftest(
        """
        from pytest_asyncio_coop import Admission, hookimpl

        @hookimpl
        def admit_task(task, running, settings):
            return Admission.SKIP
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_n(n):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, warnings=3)
    result.stdout.fnmatch_lines(["*admit_task held back all 3 queued cooperative tests while none was running*"])


def test_hook_marker_options(pytester):
    pytester.makeconftest(
        """
        from pytest_asyncio_coop import hookimpl

        def check_tier(value):
            if value not in ("gold", "silver"):
                raise ValueError("tier must be 'gold' or 'silver'")

        @hookimpl
        def marker_options():
            return {"tier": check_tier, "note": None}

        @hookimpl
        def on_task_start(task):
            print("OPTIONS", task.item.name, sorted(task.options.items()))
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative(tier="gold", note=[1], timeout=5)
        async def test_declared():
            pass

        @pytest.mark.asyncio_cooperative(tier="bronze")
        async def test_rejected():
            pass

        @pytest.mark.asyncio_cooperative(teir="gold")
        async def test_misspelt():
            pass
        """
    )
    result = pytester.runpytest("-s", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "test_hook_marker_options.py::test_rejected: asyncio_cooperative(tier='bronze'): "
            "tier must be 'gold' or 'silver'",
            "test_hook_marker_options.py::test_misspelt: asyncio_cooperative(teir='gold'): "
            "unknown argument 'teir'; the marker accepts exclusive, note, tier, timeout",
        ]
    )
    result.stdout.fnmatch_lines(["OPTIONS test_declared ?('note', ?1?), ('tier', 'gold'), ('timeout', 5)?"])


def test_conftest_hooks_apply_only_below_their_directory(pytester):
    for name in ("alpha", "beta"):
        pytester.mkpydir(name)
        (pytester.path / name / "conftest.py").write_text(
            textwrap.dedent(
                f"""
                from pytest_asyncio_coop import hookimpl

                @hookimpl
                def on_task_start(task):
                    with open(task.item.config.rootpath / "seen.txt", "a") as f:
                        f.write("{name} sees " + task.item.name + "\\n")
                """
            )
        )
        (pytester.path / name / f"test_{name}.py").write_text(
            textwrap.dedent(
                f"""
                import pytest

                @pytest.mark.asyncio_cooperative
                async def test_in_{name}():
                    pass
                """
            )
        )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    seen = sorted((pytester.path / "seen.txt").read_text().splitlines())
    assert seen == ["alpha sees test_in_alpha", "beta sees test_in_beta"]


PLUGIN_MODULE = """
from pytest_asyncio_coop import hookimpl

@hookimpl
def on_task_start(task):
    print("plugin sees", task.item.name)
"""

ONE_TEST = """
import pytest

@pytest.mark.asyncio_cooperative
async def test_one():
    pass
"""


def test_hooks_from_a_plugin_loaded_with_dash_p(pytester):
    pytester.makepyfile(myext=PLUGIN_MODULE, test_one=ONE_TEST)
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "myext", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*plugin sees test_one*"])


def test_hooks_from_a_pytest_plugins_module(pytester):
    pytester.makepyfile(myext2=PLUGIN_MODULE, test_one=ONE_TEST)
    pytester.makeconftest("pytest_plugins = ['myext2']")
    pytester.syspathinsert()
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*plugin sees test_one*"])


def test_hooks_from_a_plugin_object_its_class_and_their_bases(pytester):
    # A plugin may be an object: its hookimpls are found on it, on its class
    # and on their bases (methods, static methods), as getattr would find them.
    pytester.makeconftest(
        REPORTER
        + """
from pytest_asyncio_coop import hookimpl

class Base:
    @hookimpl
    def on_task_start(self, task):
        lines.append(f"inherited start {task.item.name}")

    @hookimpl
    def on_task_finish(self, task):
        lines.append("hidden by the subclass: never called")

class Plugin(Base):
    on_task_finish = None

    @staticmethod
    @hookimpl(specname="on_task_finish")
    def finished(task):
        lines.append(f"static finish {task.item.name} {task.outcome}")

def pytest_configure(config):
    config.pluginmanager.register(Plugin(), "object-plugin")
"""
    )
    pytester.makepyfile(test_one=ONE_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert hook_lines(result) == ["inherited start test_one", "static finish test_one passed"]


def test_hooks_from_an_extension_package_entry_point(pytester, monkeypatch):
    site = pytester.mkdir("site")
    (site / "coop_ext.py").write_text(PLUGIN_MODULE.replace("plugin sees", "entry point sees"))
    dist = site / "coop_ext-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: coop-ext\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pytest_asyncio_coop]\ncoop_ext = coop_ext\n")
    pytester.makepyfile(test_one=ONE_TEST)
    monkeypatch.setenv("PYTHONPATH", str(site))
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*entry point sees test_one*"])


def test_a_misnamed_hookimpl_is_an_error_naming_it_and_the_known_hooks(pytester):
    pytester.makeconftest(
        """
        from pytest_asyncio_coop import hookimpl

        @hookimpl
        def on_task_begin(task):
            pass
        """
    )
    pytester.makepyfile(test_one=ONE_TEST)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*conftest conftest.py: on_task_begin() is marked with pytest_asyncio_coop.hookimpl, but there is no "
            "hook named 'on_task_begin'; known hooks: " + ", ".join(HOOKS) + "*"
        ]
    )


def make_hookimpl(pytester, hook, body):
    """A conftest implementing ``hook`` (with the spec's arguments) as ``body``."""
    spec = getattr(hookspecs, hook)
    arguments = ", ".join(spec.__code__.co_varnames[: spec.__code__.co_argcount])
    pytester.makeconftest(
        "from pytest_asyncio_coop import hookimpl\n\n@hookimpl\n"
        f"def {hook}({arguments}):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    )


# hook -> the phase its failure is reported at, and which tests it affects
FAULTY = {
    "on_task_start": ("setup", "test_target"),
    "on_task_finish": ("teardown", "test_target"),
    "on_task_timeout": ("teardown", "test_target"),
    "on_lock_acquire": ("teardown", "test_target"),
    "on_lock_release": ("teardown", "test_target"),
    "on_loop_blocked": ("teardown", "test_target"),
    "admit_task": ("setup", "test_target"),
    "make_event_loop": ("setup", "all"),
    "order_tasks": ("setup", "all"),
}


@pytest.mark.parametrize("hook", sorted(FAULTY))
def test_a_raising_hookimpl_is_reported_against_the_affected_test(pytester, hook):
    phase, affected = FAULTY[hook]
    make_hookimpl(
        pytester,
        hook,
        """
        task = locals().get("task")
        if task is None or task.item.name == "test_target":
            raise RuntimeError("extension bug")
        """,
    )
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest
        from pytest_asyncio_coop import Lock

        lock = Lock()

        @pytest.mark.asyncio_cooperative
        async def test_target():
            async with lock:
                await asyncio.sleep(0.3)
            time.sleep(0.3)  # blocks the loop

        @pytest.mark.asyncio_cooperative
        async def test_bystander():
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "0.2" if hook == "on_task_timeout" else "5")
    message = f"*HookFailure: hook {hook} of plugin 'conftest conftest.py' raised RuntimeError: extension bug"
    if affected == "all":
        result.assert_outcomes(errors=2)
        result.stdout.fnmatch_lines([f"*ERROR at {phase} of test_target*", message])
        result.stdout.fnmatch_lines([f"*ERROR at {phase} of test_bystander*", message])
    elif hook == "on_task_timeout":
        # the default still cancels; the hook's failure is reported too
        result.assert_outcomes(passed=1, failed=1, errors=1)
        result.stdout.fnmatch_lines(["*ERROR at teardown of test_target*", message])
    else:
        outcomes = {"setup": dict(passed=1, errors=1), "teardown": dict(passed=2, errors=1)}[phase]
        result.assert_outcomes(**outcomes)
        result.stdout.fnmatch_lines([f"*ERROR at {phase} of test_target*", message])


def test_pytest_skip_or_fail_in_a_hookimpl_is_a_failure_of_that_test_only(pytester):
    pytester.makeconftest(
        """
        import pytest
        from pytest_asyncio_coop import hookimpl

        @hookimpl
        def on_task_start(task):
            if task.item.name == "test_skipper":
                pytest.skip("no database")

        @hookimpl
        def admit_task(task, running, settings):
            if task.item.name == "test_failer":
                pytest.fail("no slot")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_skipper():
            pass

        @pytest.mark.asyncio_cooperative
        async def test_failer():
            pass

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_other(n):
            await asyncio.sleep(0.1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_skipper*", "*HookFailure: hook on_task_start of plugin 'conftest conftest.py' raised Skipped: no database"]
    )
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_failer*", "*HookFailure: hook admit_task of plugin 'conftest conftest.py' raised Failed: no slot"]
    )


# hook -> the phase its failure is reported at, and what it says
NONSENSE = {
    "admit_task": ("setup", "admit_task returned 'yes', not an Admission"),
    "order_tasks": ("setup", "order_tasks returned 'yes', not a sequence of the tasks"),
    "on_task_timeout": ("teardown", "on_task_timeout returned 'yes', not a TimeoutAction"),
    "make_event_loop": ("setup", "make_event_loop returned 'yes', not an event loop"),
}


@pytest.mark.parametrize("hook", sorted(NONSENSE))
def test_a_hookimpl_returning_nonsense_is_reported(pytester, hook):
    phase, message = NONSENSE[hook]
    make_hookimpl(pytester, hook, 'return "yes"\n')
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(2))
        async def test_n(n):
            await asyncio.sleep(0.5 if n else 0)
        """
    )
    result = pytester.runpytest("--asyncio-task-timeout", "0.2")
    if hook == "on_task_timeout":  # the slow test still times out
        result.assert_outcomes(passed=1, failed=1, errors=1)
    else:
        result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*ERROR at {phase} of test_n*", f"*HookFailure: {message}"])


def test_every_hook_has_a_faulty_implementation_test():
    assert sorted([*FAULTY, "marker_options"]) == HOOKS  # marker_options: test_bad_markers.py


def test_every_hookspec_has_a_conftest_test():
    missing = [name for name in HOOKS if f"test_hook_{name}" not in globals()]
    assert not missing


def test_every_hookspec_is_in_the_hook_reference():
    from pathlib import Path

    reference = (Path(__file__).parent.parent / "docs" / "hooks.rst").read_text()
    assert [name for name in HOOKS if f".. autofunction:: {name}\n" not in reference] == []


def test_hookspecs_are_fully_documented():
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        doc = spec.__doc__ or ""
        params = spec.__code__.co_varnames[: spec.__code__.co_argcount]
        assert all(f":param {param}:" in doc for param in params), name
        if spec.pytest_asyncio_coop_spec.get("firstresult"):
            assert ":return:" in doc and "Stops at first non-None result." in doc, name
        assert ".. versionadded::" in doc, name
