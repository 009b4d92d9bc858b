"""Benchmark: wall time of every course notebook, every exercise solution and of
`ldm-teach demo`, in one run.

Each notebook is executed headless in a fresh kernel (nbclient) without modifying the file;
the demo runs as a subprocess. Budgets come from the course's promises: 3 minutes per
section notebook, 2 minutes per exercise, 60 s for the demo, on 2 CPU cores.

    python benchmarks/course_runtime.py [NOTEBOOK ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {"notebook": 180.0, "exercise": 120.0, "demo": 60.0}


def time_notebook(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return time.perf_counter() - t0


def time_demo() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ldm_teach.cli",
                "demo",
                "--out",
                str(Path(tmp) / "demo.png"),
                "--no-progress",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or (
        sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    )
    print(f"{'what':<40}{'seconds':>9}{'budget':>8}{'share':>8}")
    for path in paths:
        seconds = time_notebook(path)
        budget = BUDGET_S["exercise" if path.parent.name == "solutions" else "notebook"]
        print(f"{path.name:<40}{seconds:>9.1f}{budget:>8.0f}{seconds / budget:>7.0%}")
    seconds = time_demo()
    print(
        f"{'ldm-teach demo':<40}{seconds:>9.1f}{BUDGET_S['demo']:>8.0f}"
        f"{seconds / BUDGET_S['demo']:>7.0%}"
    )


if __name__ == "__main__":
    main()
