"""Benchmarks of pytest-asyncio-coop against plain pytest and the upstream
plugin (pytest-asyncio-cooperative 0.40), measured side by side in one run.

    python bench/run.py           # everything, upstream in bench/.venv-upstream
    python bench/run.py --quick   # small suites, no upstream: a smoke run

It generates each suite in a temporary directory, runs it in a fresh process,
and records wall time, CPU time (user + sys) and peak RSS. The table and the
ratios the project targets are printed, written to bench/results/latest.json,
and plotted to bench/results/latest.png when matplotlib is installed (the
``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPSTREAM = "pytest-asyncio-cooperative==0.40.0"

# What one measured run reports: run as a child, so that ru_maxrss is its own.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
                  "rc": proc.returncode, "tail": proc.stdout.strip().splitlines()[-1:]}))
"""


def suite(kind: str, n: int, marker: str = "asyncio_cooperative", sleep: float = 0.0, scale: float = 1.0) -> str:
    """Source of a generated test module."""
    if kind == "plain":
        return f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_t(i):\n    pass\n"
    if kind == "coop":
        body = f"await asyncio.sleep({sleep})" if sleep else "pass"
        return (
            f"import asyncio\nimport pytest\n\n@pytest.mark.{marker}\n@pytest.mark.parametrize('i', range({n}))\n"
            f"async def test_t(i):\n    {body}\n"
        )
    if kind == "fixtures":
        return textwrap.dedent(
            f"""
            import asyncio
            import pytest

            @pytest.fixture(scope="session")
            async def session_resource():
                await asyncio.sleep(0.2)
                yield
                await asyncio.sleep(0.2)

            @pytest.fixture
            async def function_resource(session_resource):
                await asyncio.sleep(0.2)
                yield
                await asyncio.sleep(0.2)

            @pytest.mark.{marker}
            @pytest.mark.parametrize("i", range({n}))
            async def test_t(function_resource, i):
                pass
            """
        )
    if kind == "mixed":
        durations = mixed_durations(n, scale)
        return (
            "import asyncio\nimport pytest\n\nDURATIONS = " + repr(durations) + "\n\n"
            f"@pytest.mark.{marker}\n@pytest.mark.parametrize('i', range({n}))\n"
            "async def test_t(i):\n    await asyncio.sleep(DURATIONS[i])\n"
        )
    if kind == "sync_cpu":
        return textwrap.dedent(
            f"""
            import time

            import pytest

            @pytest.mark.parametrize("i", range({n}))
            def test_cpu(i):
                end = time.process_time() + {0.2 * scale}
                while time.process_time() < end:
                    pass
            """
        )
    raise ValueError(kind)


def mixed_durations(n: int, scale: float) -> list[float]:
    """Fixed-seed durations between 0.1 and 3 s (times ``scale``)."""
    return [round(random.Random(1234 + i).uniform(0.1, 3.0) * scale, 3) for i in range(n)]


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.results: dict[str, dict] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix="coop-bench-"))
        # Bytecode is cached, as pip leaves an installed package: compiling
        # this plugin's modules anew in every run would count against it.
        # Only pytest and the plugin measured are loaded: whatever else the
        # environment has installed weighs on neither side.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        self.upstream_python = None if quick else self._upstream_venv()

    def _upstream_venv(self) -> str | None:
        target = HERE / ".venv-upstream"
        python = target / "bin" / "python"
        if not python.exists():
            venv.create(target, with_pip=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", UPSTREAM, "pytest"], check=True)
        return str(python)

    def run(self, name: str, files: dict[str, str], *args: str, python: str | None = None, plain: bool = False,
            repeat: int = 1, directory_name: str | None = None, best_by: str = "wall") -> dict:
        """Run a suite ``repeat`` times; keep the figures of the run lowest in
        ``best_by`` (wall or cpu)."""
        directory = self.workdir / (directory_name or name)
        directory.mkdir(exist_ok=True)
        for filename, source in files.items():
            (directory / filename).write_text(source)
        cmd = [python or sys.executable, "-m", "pytest", "-q", *args]
        if not plain:
            cmd += ["-p", "asyncio-cooperative" if python else "asyncio_coop"]
        best = None
        for _ in range(repeat):
            out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=directory, capture_output=True, text=True,
                                 env=self.env)
            figures = json.loads(out.stdout)
            if best is None or figures[best_by] < best[best_by]:
                best = figures
        self.results[name] = best
        print(f"  {name:<34} wall {best['wall']:7.2f} s  cpu {best['cpu']:7.2f} s  rss {best['rss_mb']:7.1f} MB  "
              f"{' '.join(best['tail'])}", flush=True)
        return best

    def main(self) -> dict:
        q = self.quick
        big, small, sleepers = (2000, 200, 1000) if q else (20000, 2000, 10000)
        scale = 0.2 if q else 1.0  # the quick run shortens the sleeps
        up = self.upstream_python
        coop = lambda n, **kw: {"test_suite.py": suite("coop", n, **kw)}  # noqa: E731
        ratios = {}

        # The first run of a new version compiles its bytecode: not measured.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "pytest_asyncio_coop")], env=self.env)

        print("1. idle CPU")
        slept = self.run("idle_sleep3", coop(200, sleep=3 * scale), "--max-asyncio-tasks", "100", repeat=3, best_by="cpu")
        zero = self.run("idle_sleep0", coop(200), "--max-asyncio-tasks", "100", repeat=3, best_by="cpu")
        ratios["idle_cpu"] = slept["cpu"] / zero["cpu"]
        if up:
            u_slept = self.run("upstream_idle_sleep3", coop(200, sleep=3 * scale), "--max-asyncio-tasks", "100", python=up)
            u_zero = self.run("upstream_idle_sleep0", coop(200), "--max-asyncio-tasks", "100", python=up)
            ratios["upstream_idle_cpu"] = u_slept["cpu"] / u_zero["cpu"]

        print("2. per-test overhead")
        plain_big = self.run("plain_trivial_big", {"test_suite.py": suite("plain", big)}, plain=True, repeat=3)
        coop_big = self.run("coop_trivial_big", coop(big), repeat=3)
        ratios["overhead"] = coop_big["wall"] / plain_big["wall"]
        if up:
            up_big = self.run("upstream_trivial_big", coop(big), python=up, repeat=3)
            ratios["upstream_overhead"] = up_big["wall"] / plain_big["wall"]

        print("3. I/O-bound")
        io = self.run("io_sleep1", coop(sleepers, sleep=1), "--max-asyncio-tasks", str(sleepers), repeat=3)
        trivial = self.run("io_trivial", coop(sleepers), "--max-asyncio-tasks", str(sleepers), repeat=3)
        ratios["io_extra_seconds"] = io["wall"] - trivial["wall"]

        print("4. memory")
        plain_mem = self.run("plain_trivial_sleepers", {"test_suite.py": suite("plain", sleepers)}, plain=True)
        ratios["memory"] = io["rss_mb"] / plain_mem["rss_mb"]
        if up:
            up_io = self.run("upstream_io_sleep1", coop(sleepers, sleep=1), "--max-asyncio-tasks", str(sleepers), python=up)
            ratios["upstream_memory"] = up_io["rss_mb"] / plain_mem["rss_mb"]

        print("5. linear")
        coop_small = self.run("coop_trivial_small", coop(small), repeat=3)
        ratios["linear"] = coop_big["wall"] / coop_small["wall"]

        print("6. fixture-heavy")
        heavy = self.run("fixtures_1000", {"test_suite.py": suite("fixtures", 1000)}, "--max-asyncio-tasks", "1000")
        trivial_1000 = self.run("coop_trivial_1000", coop(1000), "--max-asyncio-tasks", "1000")
        ratios["fixture_heavy"] = heavy["wall"] / (0.8 + trivial_1000["wall"])

        print("7. makespan under a cap")
        mixed = {"test_suite.py": suite("mixed", 100, scale=scale)}
        durations = mixed_durations(100, scale)
        bound = max(sum(durations) / 10, max(durations))
        # the second run knows the first one's durations (same directory, same cache)
        self.run("makespan_first", mixed, "--max-asyncio-tasks", "10", directory_name="makespan")
        second = self.run("makespan_second", mixed, "--max-asyncio-tasks", "10", directory_name="makespan")
        ratios["makespan"] = second["wall"] / bound

        print("8. sync tests overlapping")
        overlap_files = {"test_sync.py": suite("sync_cpu", 30, scale=scale), "test_coop.py": suite("coop", 30, sleep=5 * scale)}
        sequential = self.run("overlap_off", overlap_files)
        overlapped = self.run("overlap_on", overlap_files, "--asyncio-sync-tests=overlap")
        ratios["sync_overlap"] = overlapped["wall"] / sequential["wall"]

        report = {
            "quick": q,
            "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "results": self.results,
            "ratios": ratios,
        }
        return report


TARGETS = {
    "idle_cpu": ("<=", 1.1),
    "overhead": ("<=", 1.10),
    "io_extra_seconds": ("<=", 1.3),
    "memory": ("<=", 1.10),
    "linear": ("<=", 11),
    "fixture_heavy": ("<=", 1.3),
    "makespan": ("<=", 1.1),
    "sync_overlap": ("<=", 0.6),
}


def plot(report: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install -e '.[bench]')")
        return
    names = [n for n in TARGETS if n in report["ratios"]]
    values = [report["ratios"][n] / TARGETS[n][1] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names, values, color=["tab:green" if v <= 1 else "tab:red" for v in values])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlabel("measured / target (≤ 1 meets the target)")
    ax.set_title(f"pytest-asyncio-coop benchmarks ({'quick' if report['quick'] else 'full'})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small suites, no upstream comparison")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where to write latest.json / latest.png")
    options = parser.parse_args()
    started = time.monotonic()
    report = Bench(options.quick).main()
    print("\nratio                     measured   target")
    for name, value in report["ratios"].items():
        target = TARGETS.get(name)
        goal = f"{target[0]} {target[1]}" if target else "(upstream, for comparison)"
        verdict = "" if not target else ("  ok" if value <= target[1] else "  MISSED")
        print(f"  {name:<24}{value:8.3f}   {goal}{verdict}")
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "latest.json").write_text(json.dumps(report, indent=2))
    plot(report, options.out / "latest.png")
    print(f"done in {time.monotonic() - started:.0f} s; results: {options.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
