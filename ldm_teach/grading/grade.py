"""Grading one submission: merge, run (rerunning after a hung part), score, write reports."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

from ldm_teach.grading.generate import build_exercise
from ldm_teach.grading.merge import merge_submission, stub_answers
from ldm_teach.grading.nbrun import check_timeout, culprit, run_pass
from ldm_teach.grading.report import GradeReport, PartResult, write_reports


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
        data, junit_text, log_tail = run_pass(nb, timeout)
        brk = data.get("break")
        passes.append({"stubbed": sorted(stubbed), "break": brk,
                       "duration_s": data.get("duration_s")})
        if brk is None:
            break
        guilty = culprit(nb, brk)
        if guilty is None or guilty in stubbed:
            break  # nothing left to stub: the remaining parts stay "not run"
        where = f"{brk['role']} cell" if brk.get("role") else f"code cell {brk['cell_num']}"
        stubbed[guilty] = f"{brk['kind']} in {where}"

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
