"""Grade exercise submissions: merge, run under nbval in isolation, score, report.

For one submission (``grade_notebook``):

1. The instructor's copy is built from the solution (``build_exercise(solution,
   keep_hidden=True)``: answers stubbed, hidden checks kept) and the submission's answer
   sources are merged into it (``merge_submission``). Nothing else from the submission,
   nor from its folder, is used: a student's ``conftest.py`` is never seen.
2. The merged notebook is written to a fresh ``tempfile.mkdtemp`` folder and run by
   ``python -m pytest merged.ipynb --nbval-lax --nbval-current-env
   --nbval-cell-timeout=T --noconftest -p no:cacheprovider -p ldm_teach.grading.pytest_plugin``
   in a subprocess (its own session, so its kernel can be killed with it), with
   plugin auto-loading off, ``IPYTHONDIR``/``MPLCONFIGDIR``/``JUPYTER_*`` inside that
   folder, ``MPLBACKEND=Agg``, and an overall limit of (code cells + 2) x (T + 10) s.
   Scores and the junit XML are written to a second, private temporary folder.
3. Timeouts. nbval fails a cell that runs past T, interrupts (or stops) the kernel and
   marks every later cell xfail; measured with nbval 0.11: after an interruptible loop the
   kernel survives and later cells still run (XPASS/XFAIL), after an uninterruptible one
   the kernel is stopped and every later cell fails. Neither result is a fair score for
   later parts, so the plugin stops the run at the first such *break* and this module
   reruns the notebook with the guilty part's answer replaced by the stub (the part that
   owns the cell, or for an ungraded cell the nearest answer above it). The guilty part
   scores 0 with status ``timeout``; each later part is scored by the rerun. A run
   without a break ends the loop; a break that no stub can remove (an instructor cell
   slower than T) leaves the parts it kept from running at 0 with status ``not run``.

Reports, for submission NAME in ``out_dir``: ``NAME.json`` (points per part, maximum,
total, flags, missing answers, durations), ``NAME.junit.xml`` (nbval's, from the final
run), ``NAME.classroom.json`` (GitHub Classroom's reporter format) and its base64 in
``NAME.classroom.b64``. Reports are never overwritten silently: if any of them exists,
the files are written as ``NAME.1.json``, ``NAME.2.json``, ... unless ``overwrite=True``.
The JSON and Classroom reports say only "failed" for a hidden check; the junit XML is
nbval's full account (sources and expected outputs of hidden checks included), meant for
the instructor.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ldm_teach.grading.generate import GENERATED_KEY, build_exercise
from ldm_teach.grading.merge import MergeReport, merge_submission, stub_answers

NOTEBOOK_NAME = "merged.ipynb"
#: largest per-cell timeout in seconds (an hour; the overall limit grows with it)
MAX_TIMEOUT_S = 3600
#: the files of one report stem; a stem is free only if none of them exists
REPORT_SUFFIXES = (".json", ".junit.xml", ".classroom.json", ".classroom.b64")


def check_timeout(timeout: float, what: str = "timeout") -> float:
    """``timeout`` as a float if it is a finite number of seconds in (0, MAX_TIMEOUT_S].

    Raises:
        ValueError: otherwise (0, negative, nan, inf, 1e308, not a number), naming ``what``.
    """
    ok = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not (ok and 0 < timeout <= MAX_TIMEOUT_S):
        raise ValueError(f"{what} must be a finite number of seconds in (0, {MAX_TIMEOUT_S}], "
                         f"got {timeout!r}")
    return float(timeout)


class GradingError(RuntimeError):
    """The grader itself failed (not the student's code), e.g. pytest could not start."""


@dataclass
class PartResult:
    """The score of one part (grade id)."""

    score: float  # points earned: max_score if every check cell passed, else 0
    max_score: float  # sum of the points of the part's check cells
    status: str  # "pass", "fail", "timeout" or "not run"
    message: str = ""  # first failure, one line
    checks_passed: int = 0
    checks: int = 0
    duration_s: float = 0.0  # answer + check cells of the final run


@dataclass
class GradeReport:
    """Everything ``grade_notebook`` found out about one submission."""

    name: str
    submission: str
    solution: str
    parts: dict[str, PartResult]
    merge: MergeReport
    timeout_s: float
    passes: list[dict] = field(default_factory=list)  # one entry per nbval run
    duration_s: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # report kind -> path written

    @property
    def total(self) -> float:
        return sum(p.score for p in self.parts.values())

    @property
    def max_total(self) -> float:
        return sum(p.max_score for p in self.parts.values())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "submission": self.submission,
            "solution": self.solution,
            "total": self.total,
            "max_total": self.max_total,
            "parts": {gid: asdict(p) for gid, p in self.parts.items()},
            "missing_answers": self.merge.missing,
            "unchanged_answers": self.merge.unchanged,
            "found_answers": self.merge.found,
            "flags": self.merge.flags,
            "timeout_s": self.timeout_s,
            "duration_s": round(self.duration_s, 3),
            "passes": self.passes,
        }

    def classroom(self) -> dict:
        """The JSON that GitHub Classroom's autograding reporter reads (base64 encoded)."""
        tests = []
        for gid, part in self.parts.items():
            test = {"name": gid, "status": "pass" if part.status == "pass" else "fail",
                    "score": part.score, "max_score": part.max_score,
                    "execution_time": f"{part.duration_s:.2f}s"}
            if part.status != "pass":
                test["message"] = part.message or part.status
            tests.append(test)
        ok = all(t["status"] == "pass" for t in tests)
        return {"version": 1, "status": "pass" if ok else "fail",
                "max_score": self.max_total, "tests": tests}


# -- finding the solution ---------------------------------------------------------------

def _grade_ids(nb: NotebookNode) -> set[str]:
    ids = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("grade")
        if isinstance(meta, dict) and isinstance(meta.get("id"), str):
            ids.add(meta["id"])
    return ids


def find_solution(submission_path: str | Path, solutions: str | Path) -> Path:
    """The solution notebook that a submission answers.

    Args:
        submission_path: the student's notebook.
        solutions: a solution notebook (returned as is) or a folder of them.
    Returns:
        In a folder: the solution named in the submission's ``metadata.ldm_teach.exercise``
        (written by the generator), else the one with the submission's file name, else the
        one sharing the most grade ids with it.
    Raises:
        FileNotFoundError: if ``solutions`` does not exist or no solution matches.
        ValueError: if two solutions match equally well by grade ids, or a path is empty.
    """
    from ldm_teach.training.checkpoint import path_arg

    solutions = path_arg(solutions, "--solutions")
    submission_path = path_arg(submission_path, "submission")
    if solutions.is_file():
        return solutions
    if not solutions.is_dir():
        raise FileNotFoundError(f"--solutions {solutions} is neither a notebook nor a folder")
    candidates = sorted(solutions.glob("*.ipynb"))
    try:
        sub = nbformat.read(submission_path, as_version=4)
    except Exception:
        sub = None
    if sub is not None:
        meta = sub.metadata.get(GENERATED_KEY, {})
        exercise = meta.get("exercise") if isinstance(meta, dict) else None
        for c in candidates:
            if exercise and c.stem == exercise:
                return c
    for c in candidates:
        if c.name == submission_path.name:
            return c
    if sub is not None:
        ids = _grade_ids(sub)
        scored = sorted(((len(ids & _grade_ids(nbformat.read(c, as_version=4))), c.name, c)
                         for c in candidates), reverse=True)
        if scored and scored[0][0] > 0:
            if len(scored) > 1 and scored[1][0] == scored[0][0]:
                raise ValueError(f"{submission_path}: matches solutions {scored[0][1]} and "
                                 f"{scored[1][1]} equally; pass --solutions FILE")
            return scored[0][2]
    raise FileNotFoundError(f"{submission_path}: no solution in {solutions} matches it (by "
                            "metadata, file name or grade ids); pass --solutions FILE")


# -- one nbval run -------------------------------------------------------------------------

def _pytest_env(work: Path, results: Path, token: str) -> dict[str, str]:
    # imported here: the plugin imports pytest, which check cells importing
    # ldm_teach.grading.checks need not pay for
    from ldm_teach.grading.pytest_plugin import HIDE_ENV, RESULTS_ENV, TOKEN_ENV

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "JUPYTER_", "IPYTHON", "LDM_TEACH_GRADE_"))}
    package_root = str(Path(__file__).resolve().parents[2])
    env.update({
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
    })
    return env


def _run_pass(nb: NotebookNode, timeout: float,
              limit_s: float | None = None) -> tuple[dict, str | None, str]:
    """Run one merged notebook under nbval; return (plugin results, junit text, log tail).

    ``limit_s`` overrides the overall limit, (code cells + 2) x (timeout + 10) s.
    """
    work = Path(tempfile.mkdtemp(prefix="ldm-teach-grade-"))
    private = Path(tempfile.mkdtemp(prefix="ldm-teach-results-"))
    try:
        nbformat.write(nb, work / NOTEBOOK_NAME)
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        profile = work / ".ipython" / "profile_default"
        profile.mkdir(parents=True)
        # plain-text tracebacks in the junit XML and the reports
        (profile / "ipython_kernel_config.py").write_text(
            'c.InteractiveShell.colors = "nocolor"\n', encoding="utf-8")
        results, junit = private / "results.json", private / "junit.xml"
        token = secrets.token_hex(16)
        cmd = [sys.executable, "-m", "pytest", NOTEBOOK_NAME, "-c", "pytest.ini",
               "--rootdir", str(work), "-p", "nbval.plugin", "--nbval-lax",
               "--nbval-current-env", f"--nbval-cell-timeout={timeout:g}", "--noconftest",
               "-p", "no:cacheprovider", "-p", "ldm_teach.grading.pytest_plugin",
               f"--junitxml={junit}", "--color=no", "-q"]
        n_code = sum(cell.cell_type == "code" for cell in nb.cells)
        limit = limit_s if limit_s is not None else (n_code + 2) * (timeout + 10)
        log_path = private / "pytest.log"  # a file, not a pipe: a process the student's
        with open(log_path, "wb") as log:  # code leaves behind cannot hold it open
            proc = subprocess.Popen(cmd, cwd=work, env=_pytest_env(work, results, token),
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            killed = False
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                killed = True
            finally:
                _kill_run(proc, work)  # the kernel, and anything the student started
        log_text = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        if not results.is_file():
            raise GradingError(f"pytest wrote no results (exit {proc.returncode}):\n{log_text}")
        data = json.loads(results.read_text(encoding="utf-8"))
        if data.get("token") != token:
            raise GradingError("the results file does not carry this run's token; "
                               "something other than the grader wrote it")
        if data.get("break") is None and not data.get("complete"):
            if data.get("running") is None:
                raise GradingError(f"pytest stopped between cells (exit {proc.returncode}):"
                                   f"\n{log_text}")
            cell = next(c for c in data["cells"] if c["cell_num"] == data["running"])
            cell["outcome"] = "timeout"
            kind = (f"run killed after {limit:g} s" if killed
                    else f"pytest died (exit {proc.returncode})")
            data["break"] = {"cell_num": cell["cell_num"], "grade_id": cell["grade_id"],
                             "role": cell["role"], "kind": kind}
        if data["cells"] and all(c["outcome"] == "error" for c in data["cells"]):
            raise GradingError(f"no cell could run (kernel did not start?):\n{log_text}")
        junit_text = junit.read_text(encoding="utf-8") if junit.is_file() else None
        return data, junit_text, log_text
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def _kill_run(proc: subprocess.Popen, work: Path) -> None:
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


def _culprit(nb: NotebookNode, brk: dict) -> str | None:
    """The grade id to stub after a break: the cell's own, or the nearest answer above."""
    if brk.get("role") in ("answer", "check") and brk.get("grade_id"):
        return brk["grade_id"]
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in reversed(code_cells[: brk["cell_num"]]):
        meta = cell.get("metadata", {}).get("grade")
        if isinstance(meta, dict) and meta.get("role") == "answer":
            return meta.get("id")
    return None


# -- grading one submission -----------------------------------------------------------------

def grade_notebook(submission_path: str | Path, solution_path: str | Path,
                   out_dir: str | Path, timeout: float = 60, overwrite: bool = False,
                   name: str | None = None) -> GradeReport:
    """Grade one submitted notebook against its solution and write the reports.

    Args:
        submission_path: the student's ``.ipynb``. An unreadable file is graded as a
            submission with no answers (every part ``missing``; flag ``unreadable``).
        solution_path: the executed solution notebook (the single source of the checks).
        out_dir: folder for the reports; created if missing; checked before grading.
        timeout: seconds each cell may run (``--nbval-cell-timeout``); a finite number in
            (0, MAX_TIMEOUT_S].
        overwrite: replace existing reports of the same name instead of numbering.
        name: report name; default the submission's file stem.
    Returns:
        The report; ``report.files`` lists the files written.
    Raises:
        ValueError: if ``timeout`` is not in (0, MAX_TIMEOUT_S], a path is empty or the
            solution is malformed.
        NotADirectoryError, PermissionError: if ``out_dir`` (or a parent) is a file or not
            writable (checked before grading).
        GradingError: if pytest could not run the notebook at all.
    """
    from ldm_teach.training.checkpoint import check_output_dir, path_arg

    timeout = check_timeout(timeout)
    submission_path = path_arg(submission_path, "submission")
    solution_path = path_arg(solution_path, "solution")
    check_output_dir(path_arg(out_dir, "out_dir"), what="out_dir")
    t0 = time.perf_counter()
    solution = nbformat.read(solution_path, as_version=4)
    instructor = build_exercise(solution, source_name=solution_path.name, keep_hidden=True)
    try:
        submission = nbformat.read(submission_path, as_version=4)
        unreadable = False
    except Exception:
        submission, unreadable = nbformat.v4.new_notebook(), True
    merged, merge_report = merge_submission(instructor, submission)
    if unreadable:
        merge_report.flags["*"] = ["unreadable"]

    stubbed: dict[str, str] = {}  # grade id -> why it was stubbed
    passes: list[dict] = []
    while True:
        nb = stub_answers(merged, instructor, set(stubbed)) if stubbed else merged
        data, junit_text, log_tail = _run_pass(nb, timeout)
        brk = data.get("break")
        passes.append({"stubbed": sorted(stubbed), "break": brk,
                       "duration_s": data.get("duration_s")})
        if brk is None:
            break
        culprit = _culprit(nb, brk)
        if culprit is None or culprit in stubbed:
            break  # nothing left to stub: the remaining parts stay "not run"
        where = f"{brk['role']} cell" if brk.get("role") else f"code cell {brk['cell_num']}"
        stubbed[culprit] = f"{brk['kind']} in {where}"

    parts = _score_parts(data, stubbed)
    report = GradeReport(name=name or submission_path.stem, submission=str(submission_path),
                         solution=str(solution_path), parts=parts, merge=merge_report,
                         timeout_s=timeout, passes=passes)
    report.duration_s = time.perf_counter() - t0
    write_reports(report, out_dir, junit_text, overwrite=overwrite)
    return report


def _why(cell: dict) -> str:
    """One line on why a cell failed; hidden checks say no more than their outcome."""
    if cell["outcome"] != "failed" or cell["hidden"]:
        return cell["outcome"]
    if cell["message"].startswith("Cell outputs differ"):
        return "output differs from the expected output"
    lines = [ln.strip() for ln in cell["detail"].splitlines() if ln.strip()]
    return lines[-1][:200] if lines else (cell["message"].splitlines() or ["failed"])[0]


def _score_parts(data: dict, stubbed: dict[str, str]) -> dict[str, PartResult]:
    parts: dict[str, PartResult] = {}
    durations: dict[str, float] = {}
    first_failure: dict[str, str] = {}
    checks_seen: dict[str, int] = {}
    for cell in data["cells"]:
        gid = cell["grade_id"]
        if gid is None:
            continue
        durations[gid] = durations.get(gid, 0.0) + cell["duration_s"]
        if cell["role"] == "check":
            checks_seen[gid] = checks_seen.get(gid, 0) + 1
        if cell["outcome"] != "passed" and gid not in first_failure and (
                cell["role"] == "check" or cell["outcome"] in ("failed", "error")):
            if cell["role"] == "check":
                total = data["parts"].get(gid, {}).get("checks", 1)
                what = f"check {checks_seen[gid]}/{total}" + (" (hidden)" if cell["hidden"] else "")
            else:
                what = cell["role"] or "cell"
            first_failure[gid] = f"{what}: {_why(cell)}"
    for gid, p in data["parts"].items():
        if gid in stubbed:
            status, score = "timeout", 0
            message = f"{stubbed[gid]}; the part was stubbed and the rest rerun"
        elif p["checks_passed"] == p["checks"]:
            status, score, message = "pass", p["score"], ""
        else:
            ran = [c for c in data["cells"] if c["grade_id"] == gid and c["role"] == "check"]
            status = "not run" if all(c["outcome"] == "not run" for c in ran) else "fail"
            score, message = 0, first_failure.get(gid, status)
        parts[gid] = PartResult(score=score, max_score=p["max_score"], status=status,
                                message=message, checks_passed=p["checks_passed"],
                                checks=p["checks"],
                                duration_s=round(durations.get(gid, 0.0), 4))
    return parts


# -- reports --------------------------------------------------------------------------------

def free_stem(out_dir: Path, name: str, overwrite: bool = False) -> str:
    """``name``, or ``name.1``, ``name.2``, ... : the first stem none of whose report files
    (``REPORT_SUFFIXES``: .json, .junit.xml, .classroom.json, .classroom.b64) exists;
    ``name`` itself with ``overwrite``."""
    def used(stem: str) -> bool:
        return any((out_dir / f"{stem}{suffix}").exists() for suffix in REPORT_SUFFIXES)

    if overwrite or not used(name):
        return name
    k = 1
    while used(f"{name}.{k}"):
        k += 1
    return f"{name}.{k}"


def write_reports(report: GradeReport, out_dir: str | Path, junit_text: str | None,
                  overwrite: bool = False) -> dict[str, str]:
    """Write NAME.json, NAME.junit.xml, NAME.classroom.json and NAME.classroom.b64.

    Existing reports are kept: the files get the first free stem (see ``free_stem``)
    unless ``overwrite``. Each file is written atomically (a temporary file renamed over
    it), so an error or a full disk never leaves a truncated report. Returns (and stores
    in ``report.files``) kind -> path.

    Raises:
        ValueError: if ``out_dir`` is empty.
        OSError: if ``out_dir`` cannot be created or written.
    """
    from ldm_teach.training.checkpoint import atomic_write_text, path_arg

    out_dir = path_arg(out_dir, "out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = free_stem(out_dir, report.name, overwrite)
    classroom = json.dumps(report.classroom())
    files = {
        "json": out_dir / f"{stem}.json",
        "junit": out_dir / f"{stem}.junit.xml",
        "classroom": out_dir / f"{stem}.classroom.json",
        "classroom_b64": out_dir / f"{stem}.classroom.b64",
    }
    report.files = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["junit"], junit_text or '<?xml version="1.0" encoding="utf-8"?>\n'
                      '<testsuites><testsuite name="pytest" tests="0"/></testsuites>\n')
    atomic_write_text(files["classroom"], classroom + "\n")
    atomic_write_text(files["classroom_b64"],
                      base64.b64encode(classroom.encode("utf-8")).decode("ascii") + "\n")
    data = report.to_dict()
    data["files"] = report.files
    # NAME.json last: the report that points to the others
    atomic_write_text(files["json"], json.dumps(data, indent=2) + "\n")
    return report.files


# -- many submissions -------------------------------------------------------------------------

def collect_submissions(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """(notebook, report name) for each argument: a file, or every notebook in a folder.

    A folder is searched recursively (``.ipynb_checkpoints`` skipped); the report name
    is the path inside the folder without suffix, ``/`` replaced by ``__`` (so both
    ``class/alice.ipynb`` and ``class/alice/ex10_1.ipynb`` layouts get distinct names).
    Names are unique within the call (compared ignoring case): a name already taken, e.g.
    ``a/ex.ipynb`` and ``b/ex.ipynb``, gets its parent folders prefixed (``b__ex``), then
    a number (``ex-2``), so no report of the run replaces another.

    Raises:
        FileNotFoundError: for a path that does not exist or a folder without notebooks.
        ValueError: for an empty path.
    """
    from ldm_teach.training.checkpoint import path_arg

    found_all = []
    for arg in (path_arg(p, "submission") for p in paths):
        found_all.extend(_collect_one(arg))
    out, taken = [], set()
    for path, name in found_all:
        candidates = [name]
        parents = [p for p in path.resolve().parent.parts if p not in ("/", "\\")]
        for k in range(1, len(parents) + 1):
            candidates.append("__".join([*parents[-k:], name]))
        unique = next((c for c in candidates if c.casefold() not in taken), None)
        k = 2
        while unique is None:
            if f"{name}-{k}".casefold() not in taken:
                unique = f"{name}-{k}"
            k += 1
        taken.add(unique.casefold())
        out.append((path, unique))
    return out


def _collect_one(arg: Path) -> list[tuple[Path, str]]:
    """(notebook, name inside ``arg``) for one argument of :func:`collect_submissions`."""
    out = []
    if arg.is_file():
        out.append((arg, arg.stem))
    elif arg.is_dir():
        found = sorted(p for p in arg.rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts and p.is_file())
        if not found:
            raise FileNotFoundError(f"{arg}: folder has no .ipynb files")
        for p in found:
            rel = p.relative_to(arg).with_suffix("")
            out.append((p, "__".join(rel.parts)))
    else:
        raise FileNotFoundError(f"{arg}: no such file or folder")
    return out


def write_class_summary(reports: list[GradeReport], out_dir: str | Path,
                        overwrite: bool = False) -> Path:
    """Write ``class_summary.csv`` (numbered like the reports if one exists).

    Columns: name, submission, solution, one column per part id (points), total,
    max_total, missing, flags, report. Written atomically, like the reports.

    Raises:
        ValueError: if ``out_dir`` is empty.
        OSError: if ``out_dir`` cannot be created or written.
    """
    import io

    from ldm_teach.training.checkpoint import atomic_write_text, path_arg

    out_dir = path_arg(out_dir, "out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "class_summary.csv"
    k = 0
    while path.exists() and not overwrite:
        k += 1
        path = out_dir / f"class_summary.{k}.csv"
    part_ids = sorted({gid for r in reports for gid in r.parts})
    with io.StringIO(newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "submission", "solution", *part_ids, "total", "max_total",
                         "missing", "flags", "report"])
        for r in reports:
            flags = "; ".join(f"{gid}: {', '.join(v)}" for gid, v in r.merge.flags.items())
            writer.writerow([r.name, r.submission, r.solution,
                             *[r.parts[g].score if g in r.parts else "" for g in part_ids],
                             r.total, r.max_total, " ".join(r.merge.missing), flags,
                             r.files.get("json", "")])
        atomic_write_text(path, f.getvalue())
    return path


def format_table(report: GradeReport) -> str:
    """A terminal table: one row per part (points, checks passed, status, flags), the
    total, and the first failure of each attempted part that failed."""
    rows = [("part", "points", "checks", "status", "flags")]
    notes = []
    for gid, part in report.parts.items():
        flags = ", ".join(report.merge.flags.get(gid, []))
        status = part.status + (" (no answer)" if gid in report.merge.missing else "")
        rows.append((gid, f"{part.score:g}/{part.max_score:g}",
                     f"{part.checks_passed}/{part.checks}", status, flags))
        if part.status != "pass" and gid not in report.merge.missing and part.message:
            notes.append(f"  {gid}: {part.message.splitlines()[0][:160]}")
    rows.append(("total", f"{report.total:g}/{report.max_total:g}", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"{report.submission}  (solution: {Path(report.solution).name}, "
             f"{report.duration_s:.1f} s)"]
    for i, row in enumerate(rows):
        cells = (c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  " + "  ".join("-" * w for w in widths))
    if notes:
        lines.append("  first failure per part (details in the JSON report):")
        lines.extend(notes)
    return "\n".join(lines)

