"""Output and log records of interleaved tests land in their own report
sections and capture fixtures, in every capture mode."""

import json
import re

import pytest

SECTIONS_RECORDER = """
import json

sections = {}

def pytest_runtest_logreport(report):
    for title, content in report.sections:
        sections.setdefault(report.nodeid.split("::")[-1], []).append((report.when, title, content))

def pytest_sessionfinish(session):
    with open("sections.json", "w") as f:
        json.dump(sections, f)
"""

INTERLEAVED = """
import asyncio
import logging
import sys
import pytest

log = logging.getLogger("app")

async def chatter(tag):
    for step in range(3):
        if step == 1:  # bytes, as a program writes them to the binary stream
            sys.stdout.buffer.write(f"out {tag} {step}\\n".encode())
            sys.stdout.flush()
        else:
            print(f"out {tag} {step}")
        sys.stderr.write(f"err {tag} {step}\\n")
        log.warning(f"log {tag} {step}")
        await asyncio.sleep(0.01 * (step + len(tag) % 3))

@pytest.fixture
async def noisy(request):
    await chatter(request.node.name)
    yield
    await chatter(request.node.name)

@pytest.mark.asyncio_cooperative
@pytest.mark.parametrize("n", range(20))
async def test_noisy(noisy, request, n):
    await chatter(request.node.name)
    assert False, "deliberately"
"""


@pytest.mark.parametrize("mode", ["fd", "sys", "tee-sys"])
def test_each_test_sees_only_its_own_output_and_logs(pytester, mode):
    pytester.makeconftest(SECTIONS_RECORDER)
    pytester.makepyfile(INTERLEAVED)
    result = pytester.runpytest_subprocess(f"--capture={mode}", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=20)
    sections = json.loads((pytester.path / "sections.json").read_text())
    assert sorted(sections) == sorted(f"test_noisy[{n}]" for n in range(20))
    for name, entries in sections.items():
        seen = {(when, title.split()[-2]) for when, title, _ in entries}
        # stdout, stderr and log, for setup, call and teardown
        assert {("setup", "stdout"), ("call", "stderr"), ("teardown", "log")} <= seen, (name, seen)
        for when, title, content in entries:
            lines = [line for line in content.splitlines() if line.strip()]
            assert len(lines) == 3, (name, title, content)
            assert all(f" {name} " in line for line in lines), (name, title, content)
    if mode == "tee-sys":
        assert sum("out test_noisy[" in line for line in result.outlines) >= 20 * 9


def test_no_capture_lets_output_through(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_loud():
            print("straight to the terminal")
        """
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*straight to the terminal*"])


def test_show_capture_and_report_all(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_passes():
            print("passing output")

        @pytest.mark.asyncio_cooperative
        async def test_fails():
            print("-".join(["failing", "output"]))
            assert False
        """
    )
    result = pytester.runpytest("-rA")
    result.stdout.fnmatch_lines(["*_ test_passes _*", "*- Captured stdout call -*", "passing output"])
    result.stdout.fnmatch_lines(["*_ test_fails _*", "*- Captured stdout call -*", "failing-output"])
    hidden = pytester.runpytest("--show-capture=no")
    assert "failing-output" not in hidden.stdout.str()


def test_capsys_reads_only_the_tests_own_output(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import sys
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(20))
        async def test_capsys(capsys, n):
            for step in range(3):
                print(f"{n}:{step}")
                sys.stderr.write(f"e{n}")
                await asyncio.sleep(0.01 * ((n + step) % 3))
            captured = capsys.readouterr()
            assert captured.out == "".join(f"{n}:{step}\\n" for step in range(3))
            assert captured.err == f"e{n}" * 3
            print("after")
            assert capsys.readouterr() == (f"after\\n", "")

        @pytest.mark.asyncio_cooperative
        async def test_capsysbinary(capsysbinary):
            sys.stdout.buffer.write(b"raw ")
            print("bytes")
            await asyncio.sleep(0.01)
            assert capsysbinary.readouterr().out == b"raw bytes\\n"

        @pytest.mark.asyncio_cooperative
        async def test_capfd(capfd):
            print("python level")
            await asyncio.sleep(0.01)
            assert capfd.readouterr().out == "python level\\n"

        def test_plain_capsys_is_pytests(capsys):
            print("plain")
            assert capsys.readouterr().out == "plain\\n"
        """
    )
    pytester.runpytest().assert_outcomes(passed=23)


def test_the_text_streams_refuse_bytes_as_pytests_do(pytester):
    # click finds out whether a stream is binary by writing b"" to it
    pytester.makepyfile(
        """
        import asyncio
        import sys
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_probe(capsys, n):
            with pytest.raises(TypeError, match="must be str, not bytes"):
                sys.stdout.write(b"")
            sys.stdout.buffer.write(f"hello {n}\\n".encode())
            await asyncio.sleep(0.01)
            assert capsys.readouterr().out == f"hello {n}\\n"
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_capsys_disabled_writes_to_the_terminal(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_disabled(capsys):
            with capsys.disabled():
                print("shown live")
            print("captured")
            assert capsys.readouterr().out == "captured\\n"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*shown live*"])


def test_caplog_holds_only_the_tests_own_records_and_levels_do_not_leak(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        log = logging.getLogger("app")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(10))
        async def test_records(caplog, n):
            for step in range(3):
                log.warning("test %d step %d", n, step)
                await asyncio.sleep(0.01 * ((n + step) % 3))
            assert [r.getMessage() for r in caplog.records] == [f"test {n} step {s}" for s in range(3)]
            assert caplog.text.count(f"test {n} ") == 3

        @pytest.mark.asyncio_cooperative
        async def test_sets_debug(caplog):
            caplog.set_level(logging.DEBUG, logger="app")
            for _ in range(5):
                log.debug("verbose")
                await asyncio.sleep(0.02)
            assert len(caplog.records) == 5

        @pytest.mark.asyncio_cooperative
        async def test_sets_error(caplog):
            with caplog.at_level(logging.ERROR, logger="app"):
                for _ in range(5):
                    log.warning("hidden")
                    await asyncio.sleep(0.02)
            assert caplog.records == []

        @pytest.mark.asyncio_cooperative
        async def test_default_levels(caplog):
            for _ in range(5):
                log.debug("not at warning level")
                log.warning("at warning level")
                await asyncio.sleep(0.02)
            assert [r.getMessage() for r in caplog.records] == ["at warning level"] * 5

        def test_zz_level_restored():
            assert logging.getLogger("app").level == logging.NOTSET
        """
    )
    pytester.runpytest().assert_outcomes(passed=14)


def test_capsys_without_pytests_capture(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import sys
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_capsys(capsys, n):
            print(f"hello {n}")
            await asyncio.sleep(0.01)
            sys.stderr.write("oops\\n")
            assert capsys.readouterr() == (f"hello {n}\\n", "oops\\n")
        """
    )
    pytester.runpytest("-s").assert_outcomes(passed=3)


def test_output_a_capture_fixture_holds_unread_is_shown_in_its_phase(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_out(capsys):
            capsys.readouterr()
            print("after-read")
            assert 0
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*- Captured stdout call -*", "after-read"])
    assert "Captured stdout teardown" not in result.stdout.str()


def test_a_shared_fixtures_server_output_is_not_the_setting_up_tests(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def server():
            async def handle(reader, writer):
                data = await reader.readline()
                print(f"handling {data.decode().strip()}")
                writer.write(b"ok\\n")
                await writer.drain()
                writer.close()
            srv = await asyncio.start_server(handle, "127.0.0.1", 0)
            yield srv.sockets[0].getsockname()[1]
            srv.close()

        async def call(port, who):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"{who}\\n".encode())
            await writer.drain()
            await reader.readline()
            writer.close()

        @pytest.mark.asyncio_cooperative
        async def test_a_sets_it_up(server):
            await asyncio.sleep(0.3)
            assert 0, "A"

        @pytest.mark.asyncio_cooperative
        async def test_b(server):
            await asyncio.sleep(0.05)
            await call(server, "request-from-B")
            assert 0, "B"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    section_a = text.split("_ test_a_sets_it_up _")[1].split("_ test_b _")[0] if text.index("_ test_a_sets_it_up _") < text.index("_ test_b _") else text.split("_ test_a_sets_it_up _")[1]
    assert "request-from-B" not in section_a


def test_fd_level_output_lands_in_the_phase_that_ends_next(pytester):
    # What goes around the routers (a write to the file descriptor, or a
    # subprocess) is only in pytest's global capture: it is read at the end of
    # each phase, when there is something to read.
    pytester.makepyfile(
        """
        import os
        import subprocess
        import sys
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_fd():
            os.write(1, b"written to fd 1\\n")
            subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('from a child\\\\n')"])
            await asyncio.sleep(0)
            assert False

        @pytest.mark.asyncio_cooperative
        async def test_quiet():
            assert False
        """
    )
    result = pytester.runpytest_subprocess("--capture=fd", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    fd_part, quiet_part = _failure_section(result, "test_fd"), _failure_section(result, "test_quiet")
    assert "Captured stdout call" in fd_part and "written to fd 1" in fd_part
    assert "Captured stderr call" in fd_part and "from a child" in fd_part
    assert "Captured" not in quiet_part


def test_caplog_sees_each_phase_and_records_logged_before_it_was_requested(pytester):
    # A test's capture handlers are made when it first logs (or asks for
    # caplog): records of its setup logged before caplog are still there.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        log = logging.getLogger("app")

        @pytest.fixture
        async def early():
            log.warning("early setup")
            await asyncio.sleep(0)
            yield
            log.warning("in teardown")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(5))
        async def test_phases(early, caplog, n):
            assert [r.getMessage() for r in caplog.get_records("setup")] == ["early setup"]
            assert caplog.records == []
            log.warning(f"call {n}")
            await asyncio.sleep(0.01)
            assert [r.getMessage() for r in caplog.get_records("call")] == [f"call {n}"]
            assert n != 3

        @pytest.mark.asyncio_cooperative
        async def test_silent():
            await asyncio.sleep(0.01)
            assert False
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)
    failed, silent = _failure_section(result, "test_phases[3]"), _failure_section(result, "test_silent")
    assert "Captured log setup" in failed and "early setup" in failed
    assert "Captured log call" in failed and "call 3" in failed and "call 1" not in failed
    assert "Captured log" not in silent


def _failure_section(result, name):
    """What the FAILURES section shows for one test."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"_+ {re.escape(name)} _+", line))
    end = next(i for i in range(start + 1, len(lines)) if re.fullmatch(r"(_+ \S+ _+|=+ .* =+)", lines[i]))
    return "\n".join(lines[start:end])


THREAD_OUTPUT = """
import asyncio
import logging
import threading

import pytest

@pytest.mark.asyncio_cooperative
async def test_executor_print(capsys):
    await asyncio.get_running_loop().run_in_executor(None, print, "from the executor")
    assert capsys.readouterr().out == "from the executor\\n"

@pytest.mark.asyncio_cooperative
async def test_thread_print_and_log(capsys, caplog):
    def work():
        print("from a thread")
        logging.getLogger("worker").warning("logged in a thread")
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert capsys.readouterr().out == "from a thread\\n"
    assert caplog.messages == ["logged in a thread"]
"""


def test_output_of_threads_belongs_to_the_test_running_alone(pytester):
    # A thread (an executor's) has no test's context; while one test runs,
    # what it writes and logs can only be that test's, as in plain pytest.
    pytester.makepyfile(THREAD_OUTPUT)
    pytester.runpytest("-p", "no:randomly", "--max-asyncio-tasks=1").assert_outcomes(passed=2)


def test_executor_jobs_of_a_test_print_and_log_as_the_test_while_others_run(pytester):
    # run_in_executor runs the job in a copy of the test's context, as
    # asyncio.to_thread does
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_job(capsys, caplog, n):
            def work():
                print(f"job {n}")
                logging.getLogger("worker").warning(f"logged by job {n}")
                return n
            await asyncio.sleep(0.01 * n)
            assert await asyncio.get_running_loop().run_in_executor(None, work) == n
            await asyncio.sleep(0.05)
            assert capsys.readouterr().out == f"job {n}\\n"
            assert caplog.messages == [f"logged by job {n}"]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=4)


def test_live_log_sections_name_the_test_whose_records_follow(pytester):
    # log_cli prints records as they come: with tests interleaved, a section
    # header that only says "live log call" would put them under the wrong test.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        log = logging.getLogger("app")

        @pytest.fixture
        def resource(n):
            log.warning("setting up for %s", n)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_log(resource, n):
            log.warning("start %s", n)
            await asyncio.sleep(0.05 * (3 - n))
            log.warning("end %s", n)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-o", "log_cli=true", "-o", "log_cli_level=WARNING")
    result.assert_outcomes(passed=3)
    section = None
    records = []
    for line in result.stdout.lines:
        if " live log " in line:
            section = line.strip("- ")
        elif line.startswith("WARNING "):
            records.append((section, line.split()[-1], line.split()[-2]))
    assert len(records) == 9
    for section, n, word in records:
        phase = "setup" if word == "for" else "call"
        assert section == f"live log {phase} (test_live_log_sections_name_the_test_whose_records_follow.py::test_log[{n}])"


def test_setup_show_names_each_test_on_the_terminal_not_in_what_another_captured(pytester):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0.01)
            yield

        @pytest.mark.asyncio_cooperative
        async def test_slow(resource):
            await asyncio.sleep(0.05)
            assert 0, "slow"

        @pytest.mark.asyncio_cooperative
        async def test_quick():
            await asyncio.sleep(0.01)
            assert 0, "quick"
        """
    )
    # in a process of its own, as pytest captures the descriptors there
    result = pytester.runpytest_subprocess("--setup-show", "-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["        SETUP    F resource", "        test_*.py::test_slow (fixtures used: *resource*"])
    result.stdout.fnmatch_lines(["        test_*.py::test_quick*"])
    result.stdout.no_fnmatch_line("*Captured stdout*")


def test_a_subtest_holds_its_own_output_and_logs_while_other_tests_run(pytester):
    pytest.importorskip("_pytest.subtests", reason="subtests are pytest's from 9.0")
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_subs(subtests):
            for i in range(3):
                with subtests.test(msg="sub", i=i):
                    await asyncio.sleep(0.02 * i)
                    print(f"printed in sub {i}")
                    logging.warning(f"logged in sub {i}")
                    await asyncio.sleep(0.01)
                    assert i != 1
            print("printed after the subtests")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_other(n):
            for i in range(4):
                await asyncio.sleep(0.01)
                print(f"printed in other {n}")
                logging.warning(f"logged in other {n}")
            assert n != 2
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=3, passed=2)
    sections = _report_sections(result)
    assert sections["test_subs [sub] (i=1)"] == {
        "stdout call": ["printed in sub 1"],
        "log call": ["WARNING  root:test_a_subtest_holds_its_own_output_and_logs_while_other_tests_run.py:11 logged in sub 1"],
    }
    assert sections["test_subs"]["stdout call"] == ["printed after the subtests"]
    assert [line.split(" logged ")[1] for line in sections["test_subs"]["log call"]] == [
        "in sub 0", "in sub 1", "in sub 2"  # the subtests' are the test's too, as in pytest
    ]
    assert sections["test_other[2]"]["stdout call"] == ["printed in other 2"] * 4


def _report_sections(result):
    """test name -> section title ("stdout call") -> its lines, from the
    FAILURES and PASSES parts of a run's output."""
    sections: dict = {}
    test = title = None
    for line in result.outlines:
        if line.startswith("_") and line.endswith("_") and line.strip("_ "):
            test, title = line.strip("_ "), None
            sections[test] = {}
        elif line.startswith("-") and " Captured " in line:
            title = line.strip("- ").removeprefix("Captured ")
            sections[test][title] = []
        elif line.startswith(("=", "cooperative:")):
            test = title = None
        elif test is not None and title is not None and line:
            sections[test][title].append(line)
    return sections


@pytest.mark.parametrize("capture", ["fd", "no"])
def test_capteesys_reads_the_tests_own_output_and_lets_it_through(pytester, capture):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_tee(capteesys):
            print("tee before")
            await asyncio.sleep(0.05)
            print("tee after")
            assert capteesys.readouterr().out == "tee before\\ntee after\\n"

        @pytest.mark.asyncio_cooperative
        async def test_other():
            await asyncio.sleep(0.02)
            print("other")
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-rP", f"--capture={capture}")
    result.assert_outcomes(passed=2)
    if capture == "fd":  # through to the report's section
        assert _report_sections(result)["test_tee"] == {"stdout call": ["tee before", "tee after"]}
    else:  # through to the terminal
        result.stdout.fnmatch_lines(["tee before", "other", "*tee after"])


def test_a_tests_thread_prints_to_the_test_while_the_terminal_is_written(pytester):
    # pytest's capture is suspended while finished tests' lines reach the
    # terminal, and sys.stdout is the terminal meanwhile, for every thread
    pytester.makeconftest(
        """
        import threading

        REPLAYING = threading.Event()
        PRINTED = threading.Event()

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("test_quick"):
                REPLAYING.set()  # the job prints now
                PRINTED.wait(10)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import PRINTED, REPLAYING

        @pytest.mark.asyncio_cooperative
        async def test_thread_prints(capsys):
            def job():
                REPLAYING.wait(10)
                print("from the job")
                PRINTED.set()
            await asyncio.get_running_loop().run_in_executor(None, job)
            assert capsys.readouterr().out == "from the job\\n"

        @pytest.mark.asyncio_cooperative
        async def test_quick():
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*from the job*")
