"""Grading many submissions: collecting a class folder under distinct names, the class CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from ldm_teach.argcheck import check_bool
from ldm_teach.grading.report import REPORT_SUFFIXES, GradeReport


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
    out, taken = [], set()  # report file names already given out, casefolded

    def files(stem: str) -> set[str]:
        # "a.classroom" must not take "a"'s a.classroom.json: compare the files, not stems
        return {f"{stem}{suffix}".casefold() for suffix in REPORT_SUFFIXES}

    for path, name in found_all:
        candidates = [name]
        parents = [p for p in path.resolve().parent.parts if p not in ("/", "\\")]
        for k in range(1, len(parents) + 1):
            candidates.append("__".join([*parents[-k:], name]))
        unique = next((c for c in candidates if not files(c) & taken), None)
        k = 2
        while unique is None:
            if not files(f"{name}-{k}") & taken:
                unique = f"{name}-{k}"
            k += 1
        taken |= files(unique)
        out.append((path, unique))
    return out


def _collect_one(arg: Path) -> list[tuple[Path, str]]:
    """(notebook, name inside ``arg``) for one argument of :func:`collect_submissions`."""
    out = []
    if arg.is_file():
        out.append((arg, arg.stem))
    elif arg.is_dir():
        found = sorted(
            p for p in arg.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file()
        )
        if not found:
            raise FileNotFoundError(f"{arg}: folder has no .ipynb files")
        for p in found:
            rel = p.relative_to(arg).with_suffix("")
            out.append((p, "__".join(rel.parts)))
    else:
        raise FileNotFoundError(f"{arg}: no such file or folder")
    return out


def write_class_summary(
    reports: list[GradeReport],
    out_dir: str | Path,
    overwrite: bool = False,
    errors: list[tuple[str, str, str]] | None = None,
) -> Path:
    """Write ``class_summary.csv`` (numbered like the reports if one exists).

    Columns: name, submission, solution, one column per part id (points), total,
    max_total, missing, flags, report, error. Each of ``errors`` (name, submission,
    message: a submission that could not be graded) is a row with no points and its
    message under ``error``. Written atomically, like the reports.

    Raises:
        ValueError: if ``out_dir`` is empty.
        OSError: if ``out_dir`` cannot be created or written.
    """
    overwrite = check_bool(overwrite, "overwrite")  # "False" must not mean yes
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
        writer.writerow(
            [
                "name",
                "submission",
                "solution",
                *part_ids,
                "total",
                "max_total",
                "missing",
                "flags",
                "report",
                "error",
            ]
        )
        for r in reports:
            flags = "; ".join(f"{gid}: {', '.join(v)}" for gid, v in r.merge.flags.items())
            writer.writerow(
                [
                    r.name,
                    r.submission,
                    r.solution,
                    *[r.parts[g].score if g in r.parts else "" for g in part_ids],
                    r.total,
                    r.max_total,
                    " ".join(r.merge.missing),
                    flags,
                    r.files.get("json", ""),
                    "",
                ]
            )
        for name, submission, message in errors or []:
            writer.writerow(
                [name, submission, "", *["" for _ in part_ids], "", "", "", "", "", message]
            )
        atomic_write_text(path, f.getvalue())
    return path
