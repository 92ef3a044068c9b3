"""The docs stay true to the code: every code example in them is a file that
the suite runs, every setting is in the configuration reference, and the
README's example and set-up commands are the ones that are tested and run."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.rst"))


def directives(page, name):
    """(argument, indented body) of each ``.. name::`` directive of a page."""
    text = page.read_text()
    return re.findall(rf"^\.\. {name}::[ ]*(.*)\n((?:\n|[ ]+.*\n)*)", text, re.MULTILINE)


def literal_blocks(page):
    """The bodies of a page's ``::`` literal blocks."""
    return [
        block
        for block in re.findall(r"::\n\n((?:[ ]+.*\n|\n)+)", page.read_text())
        if block.strip()
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_code_in_the_docs_comes_from_files_the_suite_runs(page):
    for path, _ in directives(page, "literalinclude"):
        included = (page.parent / path).resolve()
        assert included.is_file(), path
        assert included.is_relative_to(ROOT / "examples") or included.is_relative_to(ROOT / "bench"), path
    # Written-out code blocks are diagrams; literal blocks are commands.
    assert [language for language, _ in directives(page, "code-block") if language != "text"] == []
    for block in literal_blocks(page):
        commands = [line.strip() for line in block.splitlines() if line.strip()]
        assert all(re.match(r"(python|pytest) ", command) for command in commands), commands


def test_every_example_file_is_shown_in_the_docs():
    included = {
        (page.parent / path).resolve() for page in PAGES for path, _ in directives(page, "literalinclude")
    }
    examples = {
        path.resolve() for path in (ROOT / "examples").rglob("*") if path.is_file() and "__pycache__" not in path.parts
    }
    # The extension's own README and setup.py are for whoever installs it.
    extension = (ROOT / "examples" / "resource_limits").resolve()
    unshown = {path for path in examples - included if not path.is_relative_to(extension)}
    assert unshown == set()


def test_configuration_reference_has_every_setting_with_its_default():
    from pytest_asyncio_coop.plugin import _OPTIONS

    text = (DOCS / "configuration.rst").read_text()
    rows = re.findall(r"\* - (.*)\n +- (.*)\n +- (.*)\n +- (.*)\n", text)
    table = {ini.strip("`"): (option.strip("`"), default) for option, ini, default, _ in rows[1:]}
    for name, spec, default, _ in _OPTIONS:
        assert table[name] == ("--" + name.replace("_", "-"), default), name
        assert f"\n``{name}``\n" in text, name  # described below the table
        if isinstance(spec, tuple):
            assert all(f"``{choice}``" in text for choice in spec), name
    assert table["asyncio_loop_factory"] == ("(ini only)", "(empty)")
    assert "\n``asyncio_loop_factory``\n" in text


def test_configuration_reference_has_every_marker_argument_the_plugin_reads():
    text = (DOCS / "configuration.rst").read_text()
    for argument in ("timeout", "exclusive"):
        assert f"``{argument}`` (default:" in text
    for marker in ("asyncio_cooperative", "flakey", "asyncio"):
        assert f"``@pytest.mark.{marker}``" in text


def test_readme_set_up_commands_come_first_and_are_what_ci_runs():
    readme = (ROOT / "README.rst").read_text()
    first_block = literal_blocks_of_text(readme)[0]
    commands = [line.strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ['python -m pip install -e ".[test]"', "python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for number, command in enumerate(commands, 1):
        marker = ci.index(f"        # README.rst, set-up command {number}:")
        assert ci[marker + 1].strip() == command


def literal_blocks_of_text(text):
    return [block for block in re.findall(r"::\n\n((?:[ ]+.*\n|\n)+)", text) if block.strip()]


def test_readme_example_and_its_output_are_the_quickstarts():
    readme = (ROOT / "README.rst").read_text()
    code = re.search(r"\.\. code-block:: python\n\n((?:[ ]+.*\n|\n)+)", readme)[1]
    code_lines = [line[4:] for line in code.rstrip().splitlines()]
    assert code_lines[0] == "# test_seed.py"
    quickstart = ROOT / "examples" / "quickstart"
    assert "\n".join(code_lines[1:]) + "\n" == (quickstart / "test_seed.py").read_text()
    output = next(block for block in literal_blocks_of_text(readme) if "$ pytest" in block)
    assert "\n".join(line[4:] for line in output.rstrip().splitlines()) + "\n" == (quickstart / "output.txt").read_text()


def test_readme_links_into_the_docs_resolve():
    readme = (ROOT / "README.rst").read_text()
    links = re.findall(r"<(docs/[^>]+)>`_", readme)
    assert links
    assert [link for link in links if not (ROOT / link).is_file()] == []
    linked = {ROOT / link for link in links}
    assert {page for page in PAGES if page.name != "index.rst"} <= linked


def load_bench_module(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_performance_plot_is_drawn_from_the_figures_shown():
    ratios = load_bench_module("plot_figures").ratios((ROOT / "bench" / "FIGURES.txt").read_text())
    assert set(ratios) >= set(load_bench_module("run").TARGETS)
    assert (ROOT / "bench" / "FIGURES.png").read_bytes().startswith(b"\x89PNG")


def test_no_merge_conflict_is_left_in_any_file():
    # A merge once left both sides of a conflict in the README.
    markers = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)
    suffixes = {".py", ".rst", ".cfg", ".toml", ".md", ".txt", ".ini", ""}
    skipped = {".git", "build", "dist", "_build", "results", "__pycache__"}
    files = [
        path for path in ROOT.rglob("*")
        if path.is_file() and path.suffix in suffixes
        and not any(part in skipped or part.startswith(".venv") or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts)
    ]
    assert ROOT / "README.rst" in files and ROOT / ".ci" / "run" in files
    conflicted = [str(path.relative_to(ROOT)) for path in files if markers.search(path.read_text(errors="replace"))]
    assert conflicted == []
