"""bench/run.py --quick runs end to end, so that the harness cannot rot. It
checks that the harness works, not the figures: those belong to bench/."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "run.py"


def test_quick_bench_runs_and_writes_its_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    assert set(report["ratios"]) >= {"idle_cpu", "overhead", "io_extra_seconds", "memory", "linear",
                                     "fixture_heavy", "makespan", "sync_overlap"}
    assert all(figures["rc"] == 0 for figures in report["results"].values()), report["results"]
    assert "ratio" in proc.stdout and "measured" in proc.stdout
