"""Autograding for the course's exercise notebooks.

``solutions/NAME.ipynb`` is the single source: answer cells hold the solution between
``# BEGIN SOLUTION`` / ``# END SOLUTION``, check cells print deterministic lines whose
expected output is stored in the notebook (see ``generate.py`` for the metadata).

    ldm-teach build-exercises [--solutions solutions/] [--exercises exercises/] [--check]
                              [--force]
        write exercises/NAME.ipynb from solutions/NAME.ipynb (answers stubbed); with
        --check write nothing, list out-of-date exercises and exit 1 if there are any.
        A file that is not exactly what was generated (a student edited it) is never
        overwritten or deleted: the build writes nothing, lists them and exits 1;
        --force overwrites (deletes) them, losing their edits.

    ldm-teach grade SUBMISSION.ipynb|FOLDER [...] --solutions solutions/ --out grades/
                    [--timeout 60] [--overwrite]
        grade each notebook (a folder: every .ipynb below it, a whole class in one call)
        against its solution: only answer cells are taken from the submission, check cells
        come from the solution, and the merged notebook runs under nbval in an empty
        temporary folder. Writes NAME.json, NAME.junit.xml, NAME.classroom.json and
        NAME.classroom.b64 per submission (never overwriting: NAME.1.json, ... unless
        --overwrite) and, for more than one submission, class_summary.csv; prints a table.
        Exit status 0 when every submission was graded (whatever the scores), 1 if the
        grader failed on one, 2 for bad arguments.

The lead wires these into ``ldm_teach.cli`` with ``add_grading_parsers(sub)`` or by
calling ``grade_main(argv)`` / ``build_exercises_main(argv)``.

Modules: ``checks`` (helpers for check cells), ``generate`` (exercises from solutions),
``merge`` (answers into the instructor's copy), ``locate`` (which solution a submission
answers), ``nbrun`` (one nbval run), ``grade`` (grading one submission), ``report``
(report files and the table), ``batch`` (a class folder, the class CSV), ``runner`` (the
pipeline's public names in one place), ``pytest_plugin`` (per-cell scores inside the nbval
run).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# Check cells import ``ldm_teach.grading.checks`` in every kernel, so this package imports
# nothing heavy up front: nbformat alone takes about 2 s to import. The grading API below
# is loaded on first use (PEP 562 module __getattr__); each name lives in the module shown.
from ldm_teach.grading.checks import fmt, hint, require_type, run_quietly

_LAZY = {
    "build_all": "generate",
    "build_exercise": "generate",
    "MergeReport": "merge",
    "merge_submission": "merge",
    "GradeReport": "runner",
    "GradingError": "runner",
    "grade_notebook": "runner",
}

__all__ = [
    "GradeReport",
    "GradingError",
    "MergeReport",
    "add_grading_parsers",
    "build_all",
    "build_exercise",
    "build_exercises_main",
    "fmt",
    "grade_main",
    "grade_notebook",
    "hint",
    "merge_submission",
    "require_type",
    "run_quietly",
]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"ldm_teach.grading.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'ldm_teach.grading' has no attribute {name!r}")


def _add_grade_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help="a submitted .ipynb, or a folder graded notebook by notebook")
    p.add_argument("--solutions", default="solutions",
                   help="solution notebook, or folder of them (default: solutions)")
    p.add_argument("--out", default="grades", help="folder for the reports (default: grades)")
    p.add_argument("--timeout", type=float, default=60,
                   help="seconds per cell, a number in (0, 3600] (default: 60)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace reports of the same name instead of writing NAME.1.json, ...")


def _add_build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solutions", default="solutions",
                   help="folder of solution notebooks (default: solutions)")
    p.add_argument("--exercises", default="exercises",
                   help="folder of exercise notebooks (default: exercises)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; list out-of-date exercises, exit 1 if any")
    p.add_argument("--force", action="store_true",
                   help="overwrite or delete exercises edited since they were generated "
                   "(their edits are lost); without it the build refuses and writes nothing")


def _cmd_grade(args: argparse.Namespace) -> int:
    from ldm_teach.grading.runner import (
        GradingError,
        check_timeout,
        collect_submissions,
        find_solution,
        format_table,
        grade_notebook,
        write_class_summary,
    )
    from ldm_teach.training.checkpoint import check_output_dir, path_arg

    try:
        check_timeout(args.timeout, what="--timeout")
        # the reports' folder is checked before any grading: an error is found at once
        check_output_dir(path_arg(args.out, "--out"), what="--out")
        path_arg(args.solutions, "--solutions")
        todo = collect_submissions(args.submissions)
        pairs = [(path, name, find_solution(path, args.solutions)) for path, name in todo]
    except (OSError, ValueError) as err:
        print(f"ldm-teach grade: {err}", file=sys.stderr)
        return 2
    reports, failed = [], 0
    for path, name, solution in pairs:
        try:
            report = grade_notebook(path, solution, args.out, timeout=args.timeout,
                                    overwrite=args.overwrite, name=name)
        except (GradingError, ValueError) as err:
            failed += 1
            print(f"ldm-teach grade: {path}: grading failed: {err}", file=sys.stderr)
            continue
        reports.append(report)
        print(format_table(report))
        print(f"  reports: {report.files['json']}\n")
    if len(pairs) > 1 and reports:
        summary = write_class_summary(reports, args.out, overwrite=args.overwrite)
        print(f"class summary: {summary} ({len(reports)} graded, {failed} failed)")
    return 1 if failed else 0


def _cmd_build_exercises(args: argparse.Namespace) -> int:
    from ldm_teach.grading.generate import EditedExerciseError, build_all

    try:  # build_all refuses an empty --solutions/--exercises and a folder of no solutions
        changed = build_all(args.solutions, args.exercises, check=args.check,
                            force=args.force)
    except EditedExerciseError as err:
        for path, why in err.conflicts:
            print(f"ldm-teach build-exercises: {path}: {why}", file=sys.stderr)
        print(f"ldm-teach build-exercises: nothing written; move {len(err.conflicts)} "
              "file(s) above out of the way, or pass --force to overwrite/delete them",
              file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"ldm-teach build-exercises: {err}", file=sys.stderr)
        return 2
    if args.check:
        for path in changed:
            print(f"out of date: {path}")
        if changed:
            print(f"run `ldm-teach build-exercises` to regenerate {len(changed)} file(s)")
            return 1
        print(f"exercises in {args.exercises} are up to date")
        return 0
    for path in changed:
        print(f"{'wrote' if Path(path).exists() else 'removed'} {path}")
    if not changed:
        print(f"exercises in {args.exercises} were already up to date")
    return 0


def add_grading_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``grade`` and ``build-exercises`` subcommands to ``ldm-teach``'s parser.

    Each subparser sets ``func`` (taking the parsed ``argparse.Namespace``, returning the
    exit status), as the other commands in ``ldm_teach.cli`` do.
    """
    p = sub.add_parser("grade", help="grade exercise submissions against the solutions")
    _add_grade_arguments(p)
    p.set_defaults(func=_cmd_grade)
    p = sub.add_parser("build-exercises", help="generate exercises/ from solutions/")
    _add_build_arguments(p)
    p.set_defaults(func=_cmd_build_exercises)


def grade_main(argv: list[str] | None = None) -> int:
    """``ldm-teach grade ...`` as a function; returns the exit status."""
    p = argparse.ArgumentParser(prog="ldm-teach grade",
                                description="Grade exercise notebooks against their solutions.")
    _add_grade_arguments(p)
    return _cmd_grade(p.parse_args(argv))


def build_exercises_main(argv: list[str] | None = None) -> int:
    """``ldm-teach build-exercises ...`` as a function; returns the exit status."""
    p = argparse.ArgumentParser(prog="ldm-teach build-exercises",
                                description="Generate exercise notebooks from solutions.")
    _add_build_arguments(p)
    return _cmd_build_exercises(p.parse_args(argv))
