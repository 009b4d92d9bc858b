"""Grading one submission: merge, run (rerunning after a hung part), score, write reports."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ldm_teach.grading.generate import build_exercise
from ldm_teach.grading.merge import merge_submission, stub_answers
from ldm_teach.grading.nbrun import check_timeout, culprit, run_pass
from ldm_teach.grading.report import GradeReport, PartResult, write_reports


def grade_notebook(
    submission_path: str | Path,
    solution_path: str | Path,
    out_dir: str | Path,
    timeout: float = 60,
    overwrite: bool = False,
    name: str | None = None,
    secret: str | None = None,
    secret_origin: str | None = None,
) -> GradeReport:
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
        secret: the instructor's secret that seeds the probes (hidden checks on secret
            inputs, see ``probes.py``); default ``LDM_TEACH_GRADE_SECRET``, else random.
        secret_origin: how the caller chose ``secret``, for the report (default: "--secret").
    Returns:
        The report; ``report.files`` lists the files written.
    Raises:
        ValueError: if ``timeout`` is not in (0, MAX_TIMEOUT_S], a path is empty or the
            solution is malformed.
        NotADirectoryError, PermissionError: if ``out_dir`` (or a parent) is a file or not
            writable (checked before grading).
        GradingError: if pytest could not run the notebook at all, or a probe fails on
            the solution itself.
    """
    from ldm_teach.grading.probes import expected_probes, probe_cells, resolve_secret, seed_probes
    from ldm_teach.grading.sandbox import chosen, describe
    from ldm_teach.training.checkpoint import check_output_dir, path_arg

    timeout = check_timeout(timeout)
    submission_path = path_arg(submission_path, "submission")
    solution_path = path_arg(solution_path, "solution")
    check_output_dir(path_arg(out_dir, "out_dir"), what="out_dir")
    t0 = time.perf_counter()
    solution = nbformat.read(solution_path, as_version=4)
    instructor = build_exercise(
        solution, source_name=solution_path.name, keep_hidden=True, lend_solutions=True
    )
    secret, origin = resolve_secret(secret)
    secret_origin = secret_origin or origin
    instructor = seed_probes(instructor, secret)
    # the solution's probe values: a separate run, no student code in it
    expected = expected_probes(solution, instructor, timeout) if probe_cells(instructor) else {}
    try:
        submission = nbformat.read(submission_path, as_version=4)
        unreadable = False
    except Exception:
        submission, unreadable = nbformat.v4.new_notebook(), True
    merged, merge_report = merge_submission(instructor, submission)
    if unreadable:
        merge_report.flags["*"] = ["unreadable"]

    parts, passes, junit_text = run_and_score(merged, instructor, timeout, expected)
    apply_forbidden(parts, merge_report)
    report = GradeReport(
        name=name or submission_path.stem,
        submission=str(submission_path),
        solution=str(solution_path),
        parts=parts,
        merge=merge_report,
        timeout_s=timeout,
        passes=passes,
        hidden_inputs={"probes": len(expected), "secret": secret_origin},
        sandbox=describe(chosen()),
    )
    report.duration_s = time.perf_counter() - t0
    write_reports(report, out_dir, junit_text, overwrite=overwrite)
    return report


def apply_forbidden(parts: dict[str, PartResult], merge_report) -> None:
    """Zero each part whose answer uses what its prompt forbids (``forbid`` metadata), in
    place: status ``forbidden``, the message naming what was found."""
    for gid, hits in merge_report.forbidden.items():
        part = parts.get(gid)
        if part is None:
            continue
        part.score, part.status = 0, "forbidden"
        part.message = (
            f"the answer uses {', '.join(hits)}, which the prompt forbids "
            f"(checks passed: {part.checks_passed}/{part.checks}); the part scores 0"
        )
        part.hint = "write the computation yourself instead of reaching for the package's"


def run_and_score(
    merged: NotebookNode,
    instructor: NotebookNode,
    timeout: float,
    expected: dict[str, dict] | None = None,
) -> tuple[dict[str, PartResult], list[dict], str | None]:
    """Run a merged notebook under nbval, rerun it after each part that hangs, score it.

    Args:
        merged: the instructor's (or pristine) notebook with the student's answers.
        instructor: the same notebook with every answer stubbed (the source of stubs).
        timeout: seconds per cell, already checked.
        expected: per probe cell id, the solution's record and tolerances
            (``probes.expected_probes``); a probe passes only if its record matches.
    Returns:
        (parts, passes, junit text of the last run): one :class:`PartResult` per grade id,
        one entry per nbval run.
    Raises:
        GradingError: if pytest could not run the notebook at all.
    """
    stubbed: dict[str, str] = {}  # grade id -> why it was stubbed
    passes: list[dict] = []
    while True:
        nb = stub_answers(merged, instructor, set(stubbed)) if stubbed else merged
        data, junit_text, _ = run_pass(nb, timeout)
        brk = data.get("break")
        passes.append(
            {"stubbed": sorted(stubbed), "break": brk, "duration_s": data.get("duration_s")}
        )
        if brk is None:
            break
        guilty = culprit(nb, brk)
        if guilty is None or guilty in stubbed:
            break  # nothing left to stub: the remaining parts stay "not run"
        where = f"{brk['role']} cell" if brk.get("role") else f"code cell {brk['cell_num']}"
        stubbed[guilty] = f"{brk['kind']} in {where}"

    _score_probes(data, expected or {})
    return _score_parts(data, stubbed, nb), passes, junit_text


def _score_probes(data: dict, expected: dict[str, dict]) -> None:
    """Count each probe as a hidden check of its part (in place): it passes only if its
    cell ran and its record matches the solution's, compared here, outside the kernel."""
    from ldm_teach.grading.probes import compare, parse_probe

    for cell in data["cells"]:
        if cell["role"] != "probe" or cell["grade_id"] is None:
            continue
        want = expected.get(cell["cell_id"])
        got = parse_probe(cell.get("got"))
        ok = (
            cell["outcome"] == "passed"
            and want is not None
            and got is not None
            and compare(want["record"], got, want["atol"], want["rtol"]) is None
        )
        cell["hidden"] = True
        if cell["outcome"] == "passed" and not ok:
            cell["outcome"], cell["message"] = "failed", "probe differs from the solution"
        part = data["parts"].setdefault(
            cell["grade_id"], {"score": 0, "max_score": 0, "checks_passed": 0, "checks": 0}
        )
        part["checks"] += 1
        part["checks_passed"] += ok
        part["score"] = part["max_score"] if part["checks_passed"] == part["checks"] else 0


def _first_difference(expected: str, got: str) -> tuple[str, str]:
    """The first line where two printouts differ ("(no line)" past the end of one)."""
    want, have = expected.splitlines(), got.splitlines()
    for k in range(max(len(want), len(have))):
        w = want[k] if k < len(want) else "(no line)"
        h = have[k] if k < len(have) else "(no line)"
        if w != h:
            return w, h
    return "", ""


def _feedback(cell: dict) -> tuple[str, str, str, str]:
    """(why, expected line, got line, hint) for a failed cell; hidden checks say no more
    than their outcome (nothing of what they print or expect)."""
    if cell["outcome"] != "failed" or cell["hidden"]:
        return cell["outcome"], "", "", ""
    if cell["message"].startswith("Cell outputs differ") and cell.get("expected") is not None:
        want, have = _first_difference(cell["expected"], cell.get("got") or "")
        got_lines = (cell.get("got") or "").splitlines()
        hint = next(
            (
                ln.strip()[len("note: ") :]
                for ln in got_lines
                if ln.strip().startswith("note: this check calls")
            ),
            "",
        )
        if not hint and have.endswith(("False", ")")) and ": False" in have:
            hint = (
                "the claim on that line does not hold for your answer; compare the value "
                "it printed with the expected one"
            )
        why = f"output differs from the expected output: expected {want!r}, got {have!r}"
        return why, want, have, hint
    if cell["message"].startswith("Cell outputs differ"):
        return "output differs from the expected output", "", "", ""
    lines = [ln.strip() for ln in cell["detail"].splitlines() if ln.strip()]
    why = lines[-1][:200] if lines else (cell["message"].splitlines() or ["failed"])[0]
    hint = ""
    if "NotImplementedError" in why:
        hint = "replace the raise NotImplementedError(...) line of the answer with your code"
    elif why.startswith("TypeError") and "must be of type" in why:
        hint = "return exactly the type the prompt asks for"
    return why, "", "", hint


def _score_parts(
    data: dict, stubbed: dict[str, str], nb: NotebookNode | None = None
) -> dict[str, PartResult]:
    """Per-part results from the plugin's records; ``nb`` (the notebook that ran) gives the
    cell numbers as JupyterLab counts them (every cell, from 1)."""
    positions = (
        [i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "code"] if nb is not None else []
    )
    parts: dict[str, PartResult] = {}
    durations: dict[str, float] = {}
    first_failure: dict[str, dict] = {}
    checks_seen: dict[str, int] = {}
    for cell in data["cells"]:
        gid = cell["grade_id"]
        if gid is None:
            continue
        durations[gid] = durations.get(gid, 0.0) + cell["duration_s"]
        is_check = cell["role"] in ("check", "probe")
        if is_check:
            checks_seen[gid] = checks_seen.get(gid, 0) + 1
        if (
            cell["outcome"] != "passed"
            and gid not in first_failure
            and (is_check or cell["outcome"] in ("failed", "error"))
        ):
            if is_check:
                total = data["parts"].get(gid, {}).get("checks", 1)
                what = f"check {checks_seen[gid]}/{total}" + (
                    " (hidden, secret inputs)"
                    if cell["role"] == "probe"
                    else " (hidden)"
                    if cell["hidden"]
                    else ""
                )
            else:
                what = cell["role"] or "cell"
            number = positions[cell["cell_num"]] if cell["cell_num"] < len(positions) else None
            if number is not None and not cell["hidden"]:
                what += f" (cell {number}" + (
                    f", id {cell['cell_id']})" if cell.get("cell_id") else ")"
                )
            why, want, have, hint = _feedback(cell)
            first_failure[gid] = {
                "message": f"{what}: {why}" + (f"; hint: {hint}" if hint else ""),
                "expected": want,
                "got": have,
                "hint": hint,
                "cell": None if cell["hidden"] else number,
            }
    for gid, p in data["parts"].items():
        if gid in stubbed:
            status, score = "timeout", 0
            message = f"{stubbed[gid]}; the part was stubbed and the rest rerun"
        elif p["checks_passed"] == p["checks"]:
            status, score, message = "pass", p["score"], ""
        else:
            ran = [
                c for c in data["cells"] if c["grade_id"] == gid and c["role"] in ("check", "probe")
            ]
            status = "not run" if all(c["outcome"] == "not run" for c in ran) else "fail"
            score = 0
            message = first_failure.get(gid, {}).get("message", status)
        info = first_failure.get(gid, {}) if status == "fail" else {}
        parts[gid] = PartResult(
            score=score,
            max_score=p["max_score"],
            status=status,
            message=message,
            checks_passed=p["checks_passed"],
            checks=p["checks"],
            duration_s=round(durations.get(gid, 0.0), 4),
            expected=info.get("expected", ""),
            got=info.get("got", ""),
            hint=info.get("hint", ""),
            cell=info.get("cell"),
        )
    return parts
