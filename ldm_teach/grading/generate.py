"""Generate student exercise notebooks from solution notebooks.

The solution notebook (``solutions/NAME.ipynb``) is the single source; the exercise
(``exercises/NAME.ipynb``) is a generated artefact, rewritten by ``ldm-teach
build-exercises``. Students work in ``exercises/``, so the generator records in each
exercise the SHA-256 of what it generated (``metadata.ldm_teach.generated_sha256``) and
never overwrites or deletes a file that differs from it (an edited exercise, a notebook
it did not generate) unless forced. What it does to each cell follows the cells' grading
metadata and the solution markers (nbformat v4; see :mod:`ldm_teach.grading.markup`):
answer spans are stubbed, check cells keep their expected outputs, hidden checks and
probes stay in the grader's copy only.

Cell ids and all other outputs are kept, so a student's answer can be matched to the
instructor's copy by grade id and by cell id (see ``merge.py``).
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ldm_teach.argcheck import check_bool
from ldm_teach.grading.cells import cell_source
from ldm_teach.grading.markup import (  # noqa: F401  (generate's API too)
    BEGIN_MARKER,
    CHECK_TAG,
    END_MARKER,
    ROLES,
    GradeMeta,
    grade_meta,
    stub_source,
)

GENERATED_KEY = "ldm_teach"  # notebook-level metadata key written into every exercise
HASH_KEY = "generated_sha256"  # in metadata[GENERATED_KEY]: SHA-256 of what was generated


def build_exercise(
    solution_nb: NotebookNode,
    source_name: str | None = None,
    keep_hidden: bool = False,
    lend_solutions: bool = False,
) -> NotebookNode:
    """Turn a solution notebook into the student's exercise notebook.

    Args:
        solution_nb: the executed solution (nbformat v4); it is not modified.
        source_name: the solution's file name, recorded in the exercise's metadata
            (``metadata.ldm_teach``) so that the grader can find the solution again.
        keep_hidden: keep check cells marked ``"hidden": true`` (the grader's copy);
            False drops them (the student's copy).
        lend_solutions: the grader's copy: the check cells of a part that calls functions
            of earlier parts run with the solution's versions of them (see ``wrap.py``).
    Returns:
        A new notebook: answer spans stubbed and answer outputs cleared; check cells with
        their stored outputs, wrapped by ``wrap.wrap_check`` (a PASS/FAIL line after the
        check's own output); every other cell unchanged; cell ids unchanged; its
        ``metadata.ldm_teach`` records the source and the SHA-256 of the notebook
        (:func:`generated_hash`).
    Raises:
        ValueError: for malformed grade metadata, an answer without solution markers,
            solution markers outside answer cells, or a check cell saved unexecuted (its
            expected output would never be compared).
    """
    keep_hidden = check_bool(keep_hidden, "keep_hidden")
    lend_solutions = check_bool(lend_solutions, "lend_solutions")
    from ldm_teach.grading.wrap import part_uses, wrap_check, wrap_probe

    nb = copy.deepcopy(solution_nb)
    name = source_name or "solution notebook"
    answers: list[tuple[str, str]] = []  # (grade id, solution source), in order
    totals: dict[tuple[str, bool], int] = {}  # (grade id, hidden) -> number of checks
    for index, cell in enumerate(nb.cells):
        meta = grade_meta(cell, f"{name} cell {index}")
        if meta is not None and meta.role == "answer":
            answers.append((meta.id, cell_source(cell)))
        elif meta is not None and meta.role == "check":
            totals[meta.id, meta.hidden] = totals.get((meta.id, meta.hidden), 0) + 1
    uses = part_uses(answers)
    seen: dict[tuple[str, bool], int] = {}
    cells = []
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        meta = grade_meta(cell, where)
        role = meta.role if meta else None
        if role != "answer" and BEGIN_MARKER in cell_source(cell):
            raise ValueError(
                f"{where}: {BEGIN_MARKER!r} outside an answer cell would leak "
                "the solution into the exercise"
            )
        if role == "answer":
            cell.source = stub_source(cell_source(cell), meta.id, where)
            cell.outputs = []
            cell.execution_count = None
        elif role == "check":
            if cell.get("execution_count") is None:
                raise ValueError(
                    f"{where}: check cell {meta.id} has no stored output "
                    "(execution_count is null); execute the solution notebook first"
                )
            if meta.hidden and not keep_hidden:
                continue
            key = (meta.id, meta.hidden)
            seen[key] = seen.get(key, 0) + 1
            lend = (
                [src for gid, src in answers if gid in uses.get(meta.id, [])]
                if lend_solutions
                else []
            )
            wrap_check(
                cell, meta.id, seen[key], totals[key], meta.hidden, uses.get(meta.id, []), lend
            )
        elif role == "probe":
            if not keep_hidden:
                continue  # grader only: its secret inputs and its code never reach students
            lend = (
                [src for gid, src in answers if gid in uses.get(meta.id, [])]
                if lend_solutions
                else []
            )
            wrap_probe(cell, meta.id, lend)
        cells.append(cell)
    nb.cells = cells
    nb.metadata[GENERATED_KEY] = {
        "exercise": Path(source_name).stem if source_name else None,
        "generated_from": source_name,
        "note": "generated by `ldm-teach build-exercises`; edit the solution, not this file",
    }
    nb.metadata[GENERATED_KEY][HASH_KEY] = generated_hash(nb)
    return nb


def generated_hash(nb: NotebookNode) -> str:
    """SHA-256 of the text of ``nb`` without its ``generated_sha256`` entry (as written and
    read back once by nbformat, so that a file read from disk gets the same hash)."""
    bare = copy.deepcopy(nb)
    meta = bare.metadata.get(GENERATED_KEY)
    if isinstance(meta, dict):
        meta.pop(HASH_KEY, None)
    text = notebook_text(nbformat.reads(notebook_text(bare), as_version=4))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def notebook_text(nb: NotebookNode) -> str:
    """The exact text ``build_all`` writes for a notebook (stable, newline-terminated)."""
    return nbformat.writes(nb) + "\n"


class EditedExerciseError(ValueError):
    """``build_all`` refused to overwrite or delete files it did not generate unchanged.

    ``conflicts`` lists (path, one-line reason); ``str()`` gives one line per file.
    """

    def __init__(self, conflicts: list[tuple[Path, str]]):
        self.conflicts = conflicts
        super().__init__("\n".join(f"{path}: {why}" for path, why in conflicts))


def _read_generated(path: Path) -> tuple[str, NotebookNode | None]:
    """How ``path`` relates to the generator: ("unchanged", nb) if it is exactly what
    ``build_exercise`` generated under this name; ("legacy", nb) if it carries the
    generator's metadata for this name but no hash (written before hashes were recorded);
    ("edited", nb) if it carries them but its content no longer matches; ("foreign", nb or
    None) if it is not a generated exercise of this name (another notebook, a student's
    copy under another name, an unreadable file)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # not a notebook: not ours
        return "foreign", None
    meta = nb.metadata.get(GENERATED_KEY)
    if not isinstance(meta, dict) or meta.get("generated_from") != path.name:
        return "foreign", nb  # e.g. "Save as" my_copy.ipynb keeps the metadata of the original
    recorded = meta.get(HASH_KEY)
    if recorded is None:
        return "legacy", nb
    return ("unchanged" if recorded == generated_hash(nb) else "edited"), nb


def _without_hash(text: str) -> str:
    """A generated notebook's text as generators before ``generated_sha256`` wrote it."""
    nb = nbformat.reads(text, as_version=4)
    nb.metadata[GENERATED_KEY].pop(HASH_KEY, None)
    return notebook_text(nb)


_FORCE = "not {verb}; --force {verb2} it, losing what is in it"


def build_all(
    solutions_dir: str | Path, exercises_dir: str | Path, check: bool = False, force: bool = False
) -> list[Path]:
    """Generate ``exercises_dir/NAME.ipynb`` from every ``solutions_dir/NAME.ipynb``.

    Students work in ``exercises_dir``, so a file is replaced only if it is exactly what
    was generated (its content matches the ``generated_sha256`` it records) and an
    exercise whose solution is gone (stale) is deleted only then; an exercise written
    before hashes were recorded counts as generated when it equals, but for the hash,
    what would be generated now (it is rewritten with its hash). Anything else at a
    target name (an edited exercise, a notebook the generator did not write) makes the
    whole build refuse before writing anything, unless ``force``. Notebooks that are not
    exercises of their file name (a student's ``my_copy.ipynb``) are never touched.

    Args:
        solutions_dir: folder of solution notebooks (not searched recursively).
        exercises_dir: folder of exercise notebooks; created if missing (write mode).
        check: compare instead of writing.
        force: overwrite edited exercises and delete edited stale ones (their edits are
            lost); files of other names are still left alone.
    Returns:
        Write mode: the exercise files written or deleted (those that changed).
        Check mode: the exercise files that are missing, differ from what would be
        generated (apart from a missing hash), or are stale; an empty list means
        everything is up to date.
    Raises:
        ValueError: if ``solutions_dir`` or ``exercises_dir`` is empty ("" would mean the
            current folder), or both name the same folder (also through a symlink).
        FileNotFoundError: if ``solutions_dir`` is not a folder or holds no solution
            notebook (every exercise would count as stale and be deleted).
        NotADirectoryError: if ``exercises_dir`` exists as a file.
        EditedExerciseError: (a ValueError) write mode without ``force``: files that would
            be overwritten or deleted were edited or not generated; nothing was written.
        ValueError: for a malformed solution notebook (see ``build_exercise``).
        OSError: if a file cannot be written (files are written atomically: none is left
            half-written).
    """
    from ldm_teach.training.checkpoint import path_arg

    solutions_dir = path_arg(solutions_dir, "solutions_dir (--solutions)")
    exercises_dir = path_arg(exercises_dir, "exercises_dir (--exercises)")
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"solutions_dir {solutions_dir} is not a folder")
    if not any(p.is_file() for p in solutions_dir.glob("*.ipynb")):
        raise FileNotFoundError(
            f"solutions_dir {solutions_dir} holds no solution notebook (*.ipynb); refusing "
            "to build, as every exercise would count as stale (check --solutions)"
        )
    if exercises_dir.exists() and not exercises_dir.is_dir():
        raise NotADirectoryError(f"exercises_dir {exercises_dir} is a file, not a folder")
    if exercises_dir.resolve() == solutions_dir.resolve():
        # the exercises would replace the solutions they are built from (even with --force)
        raise ValueError(
            f"exercises_dir {exercises_dir} and solutions_dir {solutions_dir} are the same "
            "folder: building would overwrite the solutions with their exercises; pass "
            "another --exercises"
        )
    writes: list[tuple[Path, str]] = []  # (target, text)
    deletes: list[Path] = []
    reported: list[Path] = []  # check mode
    conflicts: list[tuple[Path, str]] = []
    expected_names = set()
    for solution in sorted(solutions_dir.glob("*.ipynb")):
        expected_names.add(solution.name)
        target = exercises_dir / solution.name
        try:
            solution_nb = nbformat.read(solution, as_version=4)
            text = notebook_text(build_exercise(solution_nb, source_name=solution.name))
        except ValueError as err:  # our own messages name the part; add the file
            raise ValueError(f"{solution}: {err}") from err
        except Exception as err:  # not JSON, not a notebook, another nbformat version ...
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise ValueError(f"{solution} is not a valid solution notebook ({first})") from err
        if not target.exists():
            writes.append((target, text))
            reported.append(target)
            continue
        current = target.read_text(encoding="utf-8", errors="replace")
        if current == text:
            continue
        state, _ = _read_generated(target)
        legacy_same = state == "legacy" and current == _without_hash(text)
        if not legacy_same:
            reported.append(target)
        if state == "unchanged" or legacy_same:
            writes.append((target, text))
        else:
            why = {
                "edited": "edited since it was generated",
                "legacy": "generated before hashes were recorded and differs from what "
                "would be generated now (edited, or its solution changed)",
            }.get(state, "not an exercise written by build-exercises")
            conflicts.append(
                (target, f"{why}; " + _FORCE.format(verb="overwritten", verb2="overwrites"))
            )
            writes.append((target, text))
    if exercises_dir.is_dir():
        for orphan in sorted(exercises_dir.glob("*.ipynb")):
            if orphan.name in expected_names:
                continue
            state, _ = _read_generated(orphan)
            if state == "foreign":
                continue  # not an exercise of that name: a student's notebook
            reported.append(orphan)
            deletes.append(orphan)
            if state != "unchanged":
                conflicts.append(
                    (
                        orphan,
                        "stale (its solution is gone) but edited since it was "
                        "generated; " + _FORCE.format(verb="deleted", verb2="deletes"),
                    )
                )
    if check:
        return reported
    if conflicts and not force:
        raise EditedExerciseError(conflicts)
    from ldm_teach.training.checkpoint import atomic_write_text

    changed: list[Path] = []
    for target, text in writes:
        exercises_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
        changed.append(target)
    for orphan in deletes:
        orphan.unlink()
        changed.append(orphan)
    return changed
