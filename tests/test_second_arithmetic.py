"""Every check holds under a second floating-point arithmetic, not only this machine's.

A stored check output that pins digits of a reduction, a sampling loop or a training run
holds only on the machine that wrote it. PyTorch picks its CPU kernels by
``ATEN_CPU_CAPABILITY`` and the thread count changes the order of reductions, so
``ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1`` gives, on any one machine, the kind of
arithmetic another CPU would use. Under it, this module

* re-executes every course notebook under nbval, exactly as ``make test`` does, and
* grades every solution notebook with ``ldm-teach grade`` against itself: a correct
  answer must earn full marks on any machine.

The runs are independent processes with one thread each, so they go two at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SECOND_ARITHMETIC = {
    "ATEN_CPU_CAPABILITY": "default",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
CELL_TIMEOUT_S = 600
WORKERS = 2

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(SECOND_ARITHMETIC)
    env.update(
        {
            "PYTHONHASHSEED": "0",
            "IPYTHONDIR": str(home / "ipython"),
            "MPLCONFIGDIR": str(home / "mpl"),
            "JUPYTER_CONFIG_DIR": str(home / "jupyter"),
            "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        }
    )
    return env


def _run_notebook(path: Path, home: Path) -> tuple[int, str]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(path),
        "--nbval-lax",
        "--nbval-current-env",
        f"--nbval-cell-timeout={CELL_TIMEOUT_S}",
        "--nbval-sanitize-with",
        str(ROOT / "tests" / "nbval_sanitize.cfg"),
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(home), capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def _grade_solution(path: Path, home: Path) -> tuple[int, str]:
    out = home / "grades"
    cmd = [
        sys.executable,
        "-m",
        "ldm_teach.cli",
        "grade",
        str(path),
        "--solutions",
        str(path),
        "--out",
        str(out),
        "--timeout",
        str(CELL_TIMEOUT_S),
    ]
    proc = subprocess.run(cmd, cwd=home, env=_env(home), capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    report = out / f"{path.stem}.json"
    if proc.returncode != 0 or not report.exists():
        return proc.returncode or 1, text
    data = json.loads(report.read_text())
    full = data["total"] == data["max_total"] > 0
    return (0 if full else 1), text + "\n" + json.dumps(data["parts"], indent=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """Run every notebook and grade every solution, two at a time; results by name."""
    jobs = {}
    for path in NOTEBOOKS:
        jobs[f"notebooks/{path.name}"] = (_run_notebook, path)
    for path in SOLUTIONS:
        jobs[f"solutions/{path.name}"] = (_grade_solution, path)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            name: pool.submit(fn, path, tmp_path_factory.mktemp(Path(name).stem))
            for name, (fn, path) in jobs.items()
        }
        return {name: f.result() for name, f in futures.items()}


def test_every_notebook_and_solution_is_covered():
    assert NOTEBOOKS and SOLUTIONS
    assert all(nbformat.read(p, as_version=4).cells for p in NOTEBOOKS + SOLUTIONS)


@pytest.mark.parametrize("name", [f"notebooks/{p.name}" for p in NOTEBOOKS])
def test_notebook_checks_hold_under_second_arithmetic(runs, name):
    rc, text = runs[name]
    assert rc == 0, f"{name} under {SECOND_ARITHMETIC}:\n{text[-12000:]}"


@pytest.mark.parametrize("name", [f"solutions/{p.name}" for p in SOLUTIONS])
def test_solution_earns_full_marks_under_second_arithmetic(runs, name):
    rc, text = runs[name]
    assert rc == 0, f"{name} under {SECOND_ARITHMETIC}:\n{text[-12000:]}"
