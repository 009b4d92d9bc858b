"""``ldm-teach check``: a student's answers run against the pristine exercise's public checks.

``pytest --nbval-lax exercises/NAME.ipynb`` compares a notebook with the outputs stored in
that same file, so once a wrong answer has run and been saved (JupyterLab autosaves), its
wrong outputs are the expected ones and every check "passes". ``check_notebook`` never
trusts the student's file for anything but the answers: it merges the answer sources
(``merge_submission``) into the pristine exercise shipped with the package
(``ldm_teach/grading/pristine/NAME.ipynb``, written by ``ldm-teach build-exercises``) and
runs that under nbval in an empty folder, as the grader does, with the public checks
only. The student's file is only read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ldm_teach.grading.merge import MergeReport, merge_submission
from ldm_teach.grading.report import PartResult, feedback_lines

#: the pristine exercises shipped inside the package
PRISTINE_DIR = Path(__file__).resolve().parent / "pristine"


@dataclass
class CheckResult:
    """What ``check_notebook`` found: one result per part, public checks only."""

    notebook: str
    exercise: str
    parts: dict[str, PartResult]
    merge: MergeReport
    duration_s: float = 0.0
    passes: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.status == "pass" for p in self.parts.values())


def find_pristine(notebook: Path, pristine_dir: Path = PRISTINE_DIR) -> Path:
    """The pristine exercise that ``notebook`` is a copy of (by the exercise name recorded in
    its metadata, its file name, then its grade ids; see ``locate.find_solution``).

    Raises:
        FileNotFoundError: if no pristine exercise matches, or ``pristine_dir`` is missing.
        ValueError: if the pristine copy is not exactly what the generator wrote.
    """
    from ldm_teach.grading.generate import _read_generated
    from ldm_teach.grading.locate import find_solution

    if not pristine_dir.is_dir():
        raise FileNotFoundError(
            f"{pristine_dir}: no pristine exercises (run `ldm-teach "
            "build-exercises` in the course repository)"
        )
    path = find_solution(notebook, pristine_dir)
    state, _ = _read_generated(path)
    if state != "unchanged":
        raise ValueError(
            f"{path} is not the exercise as generated ({state}); reinstall "
            "ldm-teach or run `ldm-teach build-exercises`"
        )
    return path


def check_notebook(
    notebook: str | Path, timeout: float = 60, pristine_dir: str | Path | None = None
) -> CheckResult:
    """Run the public checks of a student's notebook on its answers only.

    Args:
        notebook: the student's ``.ipynb`` (read, never written).
        timeout: seconds each cell may run, a finite number in (0, 3600].
        pristine_dir: folder of pristine exercises; default the package's.
    Returns:
        The result: per part pass/fail, with the first failure's expected and printed lines.
    Raises:
        ValueError: for a bad timeout, an empty path, a notebook that cannot be read, or a
            notebook of another exercise.
        FileNotFoundError: if the notebook or its pristine exercise is missing.
        GradingError: if pytest could not run the notebook at all.
    """
    from ldm_teach.grading.grade import apply_forbidden, run_and_score
    from ldm_teach.grading.nbrun import check_timeout
    from ldm_teach.training.checkpoint import path_arg

    timeout = check_timeout(timeout)
    notebook = path_arg(notebook, "notebook")
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook}: no such notebook")
    t0 = time.perf_counter()
    try:
        student = nbformat.read(notebook, as_version=4)
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(
            f"{notebook} is not a readable notebook ({first}); if JupyterLab "
            "shows it, save it again (File > Save)"
        ) from err
    exercise = find_pristine(notebook, Path(pristine_dir) if pristine_dir else PRISTINE_DIR)
    pristine = nbformat.read(exercise, as_version=4)
    merged, merge_report = merge_submission(pristine, student)
    parts, passes, _ = run_and_score(merged, pristine, timeout)
    apply_forbidden(parts, merge_report)
    return CheckResult(
        notebook=str(notebook),
        exercise=str(exercise),
        parts=parts,
        merge=merge_report,
        duration_s=time.perf_counter() - t0,
        passes=passes,
    )


def format_check(result: CheckResult) -> str:
    """The terminal text of a self-check: PASS or FAIL per part, then what failed first."""
    lines = [
        f"{result.notebook}: self-check against the pristine "
        f"{Path(result.exercise).name} (public checks; {result.duration_s:.1f} s)"
    ]
    for gid, part in result.parts.items():
        verdict = "PASS" if part.status == "pass" else "FAIL"
        extra = " (no answer yet)" if gid in result.merge.missing else ""
        if part.status not in ("pass", "fail"):
            extra += f" ({part.status})"
        lines.append(f"  {verdict}  {gid}  {part.checks_passed}/{part.checks} checks{extra}")
    for gid, part in result.parts.items():
        if part.status != "pass" and gid not in result.merge.missing:
            lines.extend(feedback_lines(gid, part))
    n_pass = sum(p.status == "pass" for p in result.parts.values())
    lines.append(
        f"{n_pass}/{len(result.parts)} parts pass their public checks; the grader "
        "also runs hidden checks on inputs you have not seen"
    )
    return "\n".join(lines)


def sync_pristine(
    solutions_dir: str | Path, pristine_dir: Path = PRISTINE_DIR, check: bool = False
) -> list[Path]:
    """Write ``pristine_dir/NAME.ipynb``, the exercise generated from each solution, and
    remove pristine copies whose solution is gone. The folder belongs to the generator (no
    one edits it), so its files are replaced without asking.

    Args:
        solutions_dir: folder of solution notebooks.
        pristine_dir: the package's folder of pristine exercises.
        check: write nothing; return what would change.
    Returns:
        The pristine files written or removed (check mode: that are out of date).
    Raises:
        ValueError: for a malformed solution (see ``build_exercise``).
        OSError: if a file cannot be written (each is written atomically).
    """
    from ldm_teach.grading.generate import build_exercise, notebook_text
    from ldm_teach.training.checkpoint import atomic_write_text

    solutions_dir = Path(solutions_dir)
    changed: list[Path] = []
    names = set()
    for solution in sorted(solutions_dir.glob("*.ipynb")):
        names.add(solution.name)
        target = pristine_dir / solution.name
        text = notebook_text(
            build_exercise(nbformat.read(solution, as_version=4), source_name=solution.name)
        )
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        changed.append(target)
        if not check:
            pristine_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, text)
    for stale in sorted(pristine_dir.glob("*.ipynb")) if pristine_dir.is_dir() else []:
        if stale.name not in names:
            changed.append(stale)
            if not check:
                stale.unlink()
    return changed
