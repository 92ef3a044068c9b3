"""Plot the ratios of bench/FIGURES.txt, the latest full run, to
bench/FIGURES.png with run.py's own plot; the docs' performance page shows it.

    python bench/plot_figures.py

Needs matplotlib (the ``bench`` extra). Run it whenever FIGURES.txt changes,
so that the docs build needs no matplotlib.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ratios(figures: str) -> dict[str, float]:
    """The measured ratios of the table at the end of FIGURES.txt."""
    table = figures.split("\nratio ", 1)[1]
    return {name: float(value) for name, value in re.findall(r"^  (\w+)\s+(\d+\.\d+)", table, re.MULTILINE)}


def main() -> int:
    sys.path.insert(0, str(HERE))
    from run import plot

    plot({"quick": False, "ratios": ratios((HERE / "FIGURES.txt").read_text())}, HERE / "FIGURES.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
