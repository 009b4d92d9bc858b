"""One nbval run of a merged notebook in a fresh folder, with its time limits and clean-up."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ldm_teach.argcheck import check_real
from ldm_teach.grading.report import GradingError

NOTEBOOK_NAME = "merged.ipynb"
#: largest per-cell timeout in seconds (an hour; the overall limit grows with it)
MAX_TIMEOUT_S = 3600


def check_timeout(timeout: float, what: str = "timeout") -> float:
    """``timeout`` as a float if it is a finite number of seconds in (0, MAX_TIMEOUT_S].

    Raises:
        ValueError: otherwise (0, negative, nan, inf, 1e308, not a number), naming ``what``.
    """
    return check_real(
        timeout,
        what,
        lo=0,
        hi=MAX_TIMEOUT_S,
        lo_open=True,
        expected=f"a finite number of seconds in (0, {MAX_TIMEOUT_S}]",
    )


def _pytest_env(work: Path, results: Path, token: str, sandbox: dict) -> dict[str, str]:
    # imported here: the plugin imports pytest, which check cells importing
    # ldm_teach.grading.checks need not pay for
    from ldm_teach.grading.pytest_plugin import HIDE_ENV, RESULTS_ENV, TOKEN_ENV
    from ldm_teach.grading.sandbox import SPEC_ENV

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "JUPYTER_", "IPYTHON", "LDM_TEACH_GRADE_"))
    }
    package_root = str(Path(__file__).resolve().parents[2])
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "MPLBACKEND": "Agg",
            "IPYTHONDIR": str(work / ".ipython"),
            "MPLCONFIGDIR": str(work / ".matplotlib"),
            "JUPYTER_CONFIG_DIR": str(work / ".jupyter"),
            "JUPYTER_DATA_DIR": str(work / ".jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(work / ".jupyter-runtime"),
            RESULTS_ENV: str(results),
            TOKEN_ENV: token,
            HIDE_ENV: "1",
            SPEC_ENV: json.dumps(sandbox),
        }
    )
    return env


def run_pass(
    nb: NotebookNode, timeout: float, limit_s: float | None = None
) -> tuple[dict, str | None, str]:
    """Run one merged notebook under nbval; return (plugin results, junit text, log tail).

    ``limit_s`` overrides the overall limit, (code cells + 2) x (timeout + 10) s. The
    kernel runs in the sandbox ``sandbox.chosen()`` names (see ``sandbox.py``).
    """
    from ldm_teach.grading.sandbox import chosen, memory_mb

    work = Path(tempfile.mkdtemp(prefix="ldm-teach-grade-"))
    private = Path(tempfile.mkdtemp(prefix="ldm-teach-results-"))
    try:
        nbformat.write(nb, work / NOTEBOOK_NAME)
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        profile = work / ".ipython" / "profile_default"
        profile.mkdir(parents=True)
        # plain-text tracebacks in the junit XML and the reports
        (profile / "ipython_kernel_config.py").write_text(
            'c.InteractiveShell.colors = "nocolor"\n', encoding="utf-8"
        )
        results, junit = private / "results.json", private / "junit.xml"
        token = secrets.token_hex(16)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            NOTEBOOK_NAME,
            "-c",
            "pytest.ini",
            "--rootdir",
            str(work),
            "-p",
            "nbval.plugin",
            "--nbval-lax",
            "--nbval-current-env",
            f"--nbval-cell-timeout={timeout:g}",
            "--noconftest",
            "-p",
            "no:cacheprovider",
            "-p",
            "ldm_teach.grading.pytest_plugin",
            f"--junitxml={junit}",
            "--color=no",
            "-q",
        ]
        n_code = sum(cell.cell_type == "code" for cell in nb.cells)
        limit = limit_s if limit_s is not None else (n_code + 2) * (timeout + 10)
        log_path = private / "pytest.log"  # a file, not a pipe: a process the student's
        with open(log_path, "wb") as log:  # code leaves behind cannot hold it open
            sandbox = {
                "kind": chosen(),
                "work": str(work.resolve()),
                "memory_mb": memory_mb(),
                "cpu_s": int(limit) + 1,
            }
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                env=_pytest_env(work, results, token, sandbox),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            killed = False
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                killed = True
            finally:
                kill_run(proc, work)  # the kernel, and anything the student started
        log_text = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        if not results.is_file():
            raise GradingError(f"pytest wrote no results (exit {proc.returncode}):\n{log_text}")
        data = json.loads(results.read_text(encoding="utf-8"))
        if data.get("token") != token:
            raise GradingError(
                "the results file does not carry this run's token; "
                "something other than the grader wrote it"
            )
        if data.get("break") is None and not data.get("complete"):
            if data.get("running") is None:
                raise GradingError(
                    f"pytest stopped between cells (exit {proc.returncode}):\n{log_text}"
                )
            cell = next(c for c in data["cells"] if c["cell_num"] == data["running"])
            cell["outcome"] = "timeout"
            kind = (
                f"run killed after {limit:g} s"
                if killed
                else f"pytest died (exit {proc.returncode})"
            )
            data["break"] = {
                "cell_num": cell["cell_num"],
                "grade_id": cell["grade_id"],
                "role": cell["role"],
                "kind": kind,
            }
        if data["cells"] and all(c["outcome"] == "error" for c in data["cells"]):
            raise GradingError(f"no cell could run (kernel did not start?):\n{log_text}")
        junit_text = junit.read_text(encoding="utf-8") if junit.is_file() else None
        return data, junit_text, log_text
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def kill_run(proc: subprocess.Popen, work: Path) -> None:
    """Kill the pytest run, its kernel and anything the student's code started.

    jupyter_client starts the kernel in a session of its own, so pytest's process group
    does not cover it; the kernel's working directory is ``work`` (a folder this run
    created), which identifies it and its children. Only processes of this run are
    touched: pytest's children while it lives, members of its process group (a group id
    is not reused while a member lives), and processes working inside ``work``.
    """
    try:
        import psutil  # a dependency of ipykernel
    except ImportError:  # pragma: no cover - ipykernel always brings it
        psutil = None
    victims = []
    if proc.poll() is None:  # pytest still runs: take its children, then its group
        if psutil is not None:
            try:
                victims = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                victims = []
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    if psutil is None:
        return
    root = str(work.resolve())
    for p in psutil.process_iter(["cwd"]):
        cwd = p.info.get("cwd") or ""
        try:
            in_group = os.getpgid(p.pid) == proc.pid
        except OSError:
            in_group = False
        if in_group or cwd == root or cwd.startswith(root + os.sep):
            victims.append(p)
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass


def culprit(nb: NotebookNode, brk: dict) -> str | None:
    """The grade id to stub after a break: the cell's own, or the nearest answer above."""
    if brk.get("role") in ("answer", "check", "probe") and brk.get("grade_id"):
        return brk["grade_id"]
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in reversed(code_cells[: brk["cell_num"]]):
        meta = cell.get("metadata", {}).get("grade")
        if isinstance(meta, dict) and meta.get("role") == "answer":
            return meta.get("id")
    return None
