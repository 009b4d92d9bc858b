"""How a solution notebook marks up the parts of its exercise: the ``grade`` metadata of its
cells (nbformat v4, ``cell.metadata.grade``) and the solution markers inside answer cells.
:func:`grade_meta` reads and validates a cell's metadata, :func:`stub_source` replaces the
marked solution spans by stubs; :mod:`ldm_teach.grading.generate` builds the exercise with
them, and the grader reads the same markup (``merge.py``, ``probes.py``).

- answer cells: ``{"grade": {"id": "10.1.a", "role": "answer"}}``. The solution sits
  between the lines ``# BEGIN SOLUTION`` and ``# END SOLUTION``; the exercise replaces each
  such span by ``# YOUR CODE HERE`` and ``raise NotImplementedError("10.1.a: ...")`` at the
  indentation of the ``BEGIN`` line, so signatures and docstrings outside the markers stay.
  Their outputs are cleared.
- check cells: ``{"grade": {"id": "10.1.a", "role": "check", "points": 2}}`` and the tag
  ``nbval-check-output``; their stored outputs (with an execution count) are the expected
  outputs, kept unchanged. ``"hidden": true`` keeps a check out of the student's copy; the
  grader still runs it (``build_exercise(..., keep_hidden=True)``).
- answer cells may list ``"forbid": ["ldm_teach", "importlib", ...]``: flags of
  ``merge.FLAG_PATTERNS`` (or ``{"name": ..., "pattern": regex}``) that the prompt forbids;
  an answer that raises one scores 0 for its part (every other flag is only reported).
- probe cells: ``{"grade": {"id": "10.1.a", "role": "probe"}}`` (optional ``"atol"``,
  ``"rtol"``): grader-only hidden checks on secret inputs (see ``probes.py``); never in
  the student's copy.
- prompt cells: ``{"grade": {"id": ..., "role": "prompt"}}``, ungraded, kept as they are,
  like every cell without grade metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nbformat import NotebookNode

from ldm_teach.argcheck import is_real

BEGIN_MARKER = "# BEGIN SOLUTION"
END_MARKER = "# END SOLUTION"
CHECK_TAG = "nbval-check-output"
ROLES = ("answer", "check", "probe", "prompt")


@dataclass(frozen=True)
class GradeMeta:
    """The ``grade`` metadata of one cell, validated."""

    id: str  # part id, e.g. "10.1.a"
    role: str  # "answer", "check" or "prompt"
    points: float = 0  # points of a check cell; 0 for other roles
    hidden: bool = False  # check cells only: left out of the student's copy
    forbid: tuple[str, ...] = ()  # answer cells: names of the flags that zero the part


def grade_meta(cell: NotebookNode, where: str = "cell") -> GradeMeta | None:
    """Read and validate a cell's ``grade`` metadata.

    Args:
        cell: a notebook cell.
        where: how to name the cell in errors, e.g. ``"solutions/x.ipynb cell 4"``.
    Returns:
        The metadata, or None for a cell without ``grade`` metadata.
    Raises:
        ValueError: for a malformed entry (no id, unknown role, check without points or
            without the ``nbval-check-output`` tag, answer or check that is not code).
    """
    meta = cell.get("metadata", {}).get("grade")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: metadata 'grade' must be a dict, got {meta!r}")
    gid, role = meta.get("id"), meta.get("role")
    if not isinstance(gid, str) or not gid:
        raise ValueError(f"{where}: grade 'id' must be a non-empty string, got {gid!r}")
    if role not in ROLES:
        raise ValueError(f"{where}: grade 'role' must be one of {ROLES}, got {role!r}")
    if role in ("answer", "check", "probe") and cell.get("cell_type") != "code":
        raise ValueError(f"{where}: a {role} cell must be a code cell (grade id {gid})")
    points, hidden = 0, False
    if role == "check":
        points = meta.get("points")
        if not is_real(points) or not math.isfinite(points) or points < 0:
            raise ValueError(f"{where}: check cell {gid} needs 'points' >= 0, got {points!r}")
        hidden = meta.get("hidden", False)
        if type(hidden) is not bool:
            raise ValueError(f"{where}: check cell {gid}: 'hidden' must be true or false")
        if CHECK_TAG not in cell.get("metadata", {}).get("tags", []):
            raise ValueError(
                f"{where}: check cell {gid} lacks the tag {CHECK_TAG!r}; "
                "without it nbval would not compare its output"
            )
    forbid = meta.get("forbid", [])
    if role == "answer" and (
        not isinstance(forbid, list)
        or not all(
            (isinstance(f, str) and f) or (isinstance(f, dict) and set(f) == {"name", "pattern"})
            for f in forbid
        )
    ):
        raise ValueError(
            f"{where}: answer cell {gid}: 'forbid' must be a list of flag names "
            f"or {{'name': ..., 'pattern': ...}} entries, got {forbid!r}"
        )
    names = tuple(f if isinstance(f, str) else f["name"] for f in forbid)
    return GradeMeta(gid, role, points, hidden, names if role == "answer" else ())


def stub_source(source: str, grade_id: str, where: str = "cell") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` span by a stub.

    Args:
        source: the answer cell's source.
        grade_id: the part id, quoted in the stub's ``NotImplementedError``.
        where: how to name the cell in errors.
    Returns:
        The source with each span replaced by ``# YOUR CODE HERE`` and
        ``raise NotImplementedError("<grade_id>: write your answer here")``, indented like
        the ``BEGIN`` line.
    Raises:
        ValueError: if there is no span, or markers are nested or unbalanced.
    """
    out: list[str] = []
    inside = False
    spans = 0
    for line in source.split("\n"):
        marker = line.strip()
        if marker == BEGIN_MARKER:
            if inside:
                raise ValueError(f"{where}: nested {BEGIN_MARKER!r} (grade id {grade_id})")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("{grade_id}: write your answer here")')
        elif marker == END_MARKER:
            if not inside:
                raise ValueError(
                    f"{where}: {END_MARKER!r} without {BEGIN_MARKER!r} (grade id {grade_id})"
                )
            inside = False
            spans += 1
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN_MARKER!r} without {END_MARKER!r} (grade id {grade_id})")
    if spans == 0:
        raise ValueError(
            f"{where}: answer cell {grade_id} has no {BEGIN_MARKER!r} ... {END_MARKER!r} span"
        )
    return "\n".join(out)
