"""Finding the solution notebook that a submission answers."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ldm_teach.grading.generate import GENERATED_KEY


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
        scored = sorted(
            (
                (len(ids & _grade_ids(nbformat.read(c, as_version=4))), c.name, c)
                for c in candidates
            ),
            reverse=True,
        )
        if scored and scored[0][0] > 0:
            if len(scored) > 1 and scored[1][0] == scored[0][0]:
                raise ValueError(
                    f"{submission_path}: matches solutions {scored[0][1]} and "
                    f"{scored[1][1]} equally; pass --solutions FILE"
                )
            return scored[0][2]
    raise FileNotFoundError(
        f"{submission_path}: no solution in {solutions} matches it (by "
        "metadata, file name or grade ids); pass --solutions FILE"
    )
