"""The grading subcommands of ``ldm-teach``: grade, check, build-exercises, workspace, classroom."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: the course repository's own folders (a source checkout; absent in an installed wheel)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _add_grade_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSION",
        help="a submitted .ipynb, or a folder graded notebook by notebook",
    )
    p.add_argument(
        "--solutions",
        default="solutions",
        help="solution notebook, or folder of them (default: solutions)",
    )
    p.add_argument("--out", default="grades", help="folder for the reports (default: grades)")
    p.add_argument(
        "--timeout",
        type=float,
        default=60,
        help="seconds per cell, a number in (0, 3600] (default: 60)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace reports of the same name instead of writing NAME.1.json, ...",
    )
    p.add_argument(
        "--secret",
        default=None,
        help="the instructor's secret that seeds the hidden checks' inputs (default: "
        "$LDM_TEACH_GRADE_SECRET, else a fresh random one); never in students' files",
    )


def _add_check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "notebooks",
        nargs="+",
        metavar="NOTEBOOK",
        help="your copy of an exercise (read only, never changed)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60,
        help="seconds per cell, a number in (0, 3600] (default: 60)",
    )


def _add_build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--solutions", default="solutions", help="folder of solution notebooks (default: solutions)"
    )
    p.add_argument(
        "--exercises", default="exercises", help="folder of exercise notebooks (default: exercises)"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list out-of-date exercises, exit 1 if any",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite or delete exercises edited since they were generated "
        "(their edits are lost); without it the build refuses and writes nothing",
    )


def _readable(path: Path) -> str | None:
    """None if ``path`` reads as a notebook, else one line saying why not."""
    import nbformat

    try:
        nbformat.read(path, as_version=4)
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        return f"not a readable notebook ({type(err).__name__}: {first})"
    return None


def _cmd_grade(args: argparse.Namespace) -> int:
    from ldm_teach.grading.probes import resolve_secret
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
        if not Path(args.solutions).exists():
            raise FileNotFoundError(f"--solutions {args.solutions}: no such file or folder")
        todo = collect_submissions(args.submissions)
        # one secret for the whole call, so the solution's probe values are computed once
        secret, origin = resolve_secret(args.secret)
    except (OSError, ValueError) as err:
        print(f"ldm-teach grade: {err}", file=sys.stderr)
        return 2
    # one bad submission (unreadable, of no known exercise) is an error row, not the end
    # of the class
    pairs, errors = [], []
    for path, name in todo:
        problem = _readable(path)
        if problem is None:
            try:
                pairs.append((path, name, find_solution(path, args.solutions)))
                continue
            except (OSError, ValueError) as err:
                problem = str(err)
        errors.append((name, str(path), problem))
        print(f"ldm-teach grade: {path}: not graded: {problem}", file=sys.stderr)
    reports = []
    for path, name, solution in pairs:
        try:
            report = grade_notebook(
                path,
                solution,
                args.out,
                timeout=args.timeout,
                overwrite=args.overwrite,
                name=name,
                secret=secret,
                secret_origin=origin,
            )
        except (GradingError, ValueError) as err:
            errors.append((name, str(path), f"grading failed: {err}"))
            print(f"ldm-teach grade: {path}: grading failed: {err}", file=sys.stderr)
            continue
        reports.append(report)
        print(format_table(report))
        print(f"  reports: {report.files['json']}\n")
    if len(todo) > 1 and (reports or errors):
        summary = write_class_summary(reports, args.out, overwrite=args.overwrite, errors=errors)
        print(f"class summary: {summary} ({len(reports)} graded, {len(errors)} not graded)")
    return 1 if errors else 0


def _cmd_check(args: argparse.Namespace) -> int:
    from ldm_teach.grading.nbrun import check_timeout
    from ldm_teach.grading.report import GradingError
    from ldm_teach.grading.selfcheck import check_notebook, format_check

    try:
        check_timeout(args.timeout, what="--timeout")
    except ValueError as err:
        print(f"ldm-teach check: {err}", file=sys.stderr)
        return 2
    status = 0
    for notebook in args.notebooks:
        try:
            result = check_notebook(notebook, timeout=args.timeout)
        except (OSError, ValueError, GradingError) as err:
            print(f"ldm-teach check: {err}", file=sys.stderr)
            status = 2
            continue
        print(format_check(result))
        if not result.passed and status == 0:
            status = 1
    return status


def _cmd_build_exercises(args: argparse.Namespace) -> int:
    from ldm_teach.grading.generate import EditedExerciseError, build_all
    from ldm_teach.grading.selfcheck import PRISTINE_DIR, sync_pristine

    try:  # build_all refuses an empty --solutions/--exercises and a folder of no solutions
        changed = build_all(args.solutions, args.exercises, check=args.check, force=args.force)
        # the course's own solutions also refresh the pristine copies in the package,
        # which `ldm-teach check` runs the students' answers against
        if Path(args.solutions).resolve() == (REPO_ROOT / "solutions").resolve():
            changed += sync_pristine(args.solutions, PRISTINE_DIR, check=args.check)
    except EditedExerciseError as err:
        for path, why in err.conflicts:
            print(f"ldm-teach build-exercises: {path}: {why}", file=sys.stderr)
        print(
            f"ldm-teach build-exercises: nothing written; move {len(err.conflicts)} "
            "file(s) above out of the way, or pass --force to overwrite/delete them",
            file=sys.stderr,
        )
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


def _cmd_workspace(args: argparse.Namespace) -> int:
    from ldm_teach.grading.handout import make_workspace

    try:
        done = make_workspace(args.folder)
    except (OSError, ValueError) as err:
        print(f"ldm-teach workspace: {err}", file=sys.stderr)
        return 2
    for path, what in done:
        print(f"{what}: {path}")
    print(
        f"work in {args.folder}/ (never in exercises/); check with "
        f"`ldm-teach check {args.folder}/NAME.ipynb`"
    )
    return 0


def _cmd_classroom(args: argparse.Namespace) -> int:
    from ldm_teach.grading.handout import make_classroom

    try:
        written = make_classroom(args.folder, args.exercise)
    except (OSError, ValueError) as err:
        print(f"ldm-teach classroom: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(
        "push it as a GitHub Classroom template; see the comment at the top of the "
        "workflow for the variable and secrets it needs"
    )
    return 0


def add_grading_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``grade``, ``check``, ``workspace``, ``classroom`` and ``build-exercises`` to
    ``ldm-teach``.

    Each subparser sets ``func`` (taking the parsed ``argparse.Namespace``, returning the
    exit status), as the other commands in ``ldm_teach.cli`` do.
    """
    p = sub.add_parser("grade", help="grade exercise submissions against the solutions")
    _add_grade_arguments(p)
    p.set_defaults(func=_cmd_grade)
    p = sub.add_parser(
        "check", help="check your answers against the pristine exercise's public checks (students)"
    )
    _add_check_arguments(p)
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser(
        "workspace",
        help="copy the exercises into your own folder to work "
        "in (students; files already there are kept)",
    )
    p.add_argument(
        "folder",
        nargs="?",
        default="my-exercises",
        help="your folder (default: my-exercises, git-ignored in the course repo)",
    )
    p.set_defaults(func=_cmd_workspace)
    p = sub.add_parser(
        "classroom",
        help="write a GitHub Classroom template repository for one exercise (instructors)",
    )
    p.add_argument("folder", help="a new or empty folder for the template")
    p.add_argument("--exercise", required=True, help="e.g. ex10_1_compression")
    p.set_defaults(func=_cmd_classroom)
    p = sub.add_parser("build-exercises", help="generate exercises/ from solutions/")
    _add_build_arguments(p)
    p.set_defaults(func=_cmd_build_exercises)


def grade_main(argv: list[str] | None = None) -> int:
    """``ldm-teach grade ...`` as a function; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="ldm-teach grade", description="Grade exercise notebooks against their solutions."
    )
    _add_grade_arguments(p)
    return _cmd_grade(p.parse_args(argv))


def check_main(argv: list[str] | None = None) -> int:
    """``ldm-teach check ...`` as a function; returns the exit status (0: every part
    passes its public checks, 1: some part fails, 2: a notebook could not be checked)."""
    p = argparse.ArgumentParser(
        prog="ldm-teach check", description="Check your exercise answers (public checks)."
    )
    _add_check_arguments(p)
    return _cmd_check(p.parse_args(argv))


def build_exercises_main(argv: list[str] | None = None) -> int:
    """``ldm-teach build-exercises ...`` as a function; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="ldm-teach build-exercises", description="Generate exercise notebooks from solutions."
    )
    _add_build_arguments(p)
    return _cmd_build_exercises(p.parse_args(argv))
