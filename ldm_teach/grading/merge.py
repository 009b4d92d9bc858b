"""Merge a student's answers into the instructor's copy of an exercise.

Only the sources of answer cells cross over from the submission. Check cells, their
stored expected outputs, their tags and every other cell come from the instructor's copy
(the solution with answers stubbed, hidden checks included), so editing a check cell,
its stored output, or deleting it changes nothing.

Answer cells are matched by grade id (``metadata.grade.id``), then by cell id (for a copy
whose metadata was stripped by an editor). A part the submission lacks keeps the
instructor's stub, which raises ``NotImplementedError`` when called.

Answer sources are scanned for constructs that can fool a check running in the same
kernel (replacing ``builtins.print``, an ``__eq__`` that is always True, reading the
caller's frame, writing files, reaching the package's reference implementation, IPython's
machinery or /proc); a hit is a flag for a human to read, not a zero, unless the answer
cell's ``forbid`` metadata names it (the prompt forbids it): then the part scores 0.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from nbformat import NotebookNode

from ldm_teach.grading.cells import cell_source
from ldm_teach.grading.markup import grade_meta

# (name shown in the report, pattern). Substring patterns from the course's grading notes,
# plus a few more ways to reach the kernel's state. ``eval(`` skips method calls such as
# ``model.eval()``, which every PyTorch answer may contain.
FLAG_PATTERNS: tuple[tuple[str, str], ...] = (
    ("builtins", r"builtins"),
    ("__eq__", r"__eq__"),
    ("__ne__", r"__ne__"),
    ("sys._getframe", r"_getframe"),
    ("inspect", r"\binspect\b"),
    ("open(", r"\bopen\s*\("),
    ("globals(", r"\bglobals\s*\("),
    ("setattr(", r"\bsetattr\s*\("),
    ("exec(", r"\bexec\s*\("),
    ("eval(", r"(?<![\w.])eval\s*\("),
    ("__import__", r"__import__"),
    ("os.system", r"\bos\s*\.\s*system\b"),
    ("subprocess", r"\bsubprocess\b"),
    ("get_ipython", r"\bget_ipython\b"),
    ("__main__", r"__main__"),
    ("os.environ", r"\bos\s*\.\s*environ\b"),
    ("NBVAL marker", r"NBVAL_"),
    # reaching the package's reference implementations, the kernel's machinery, the
    # grader's processes: issue 13
    ("ldm_teach", r"\bldm_teach\b"),
    ("importlib", r"\bimportlib\b"),
    ("sys.modules", r"\bsys\s*\.\s*modules\b|\bmodules\s*\["),
    ("getattr(", r"\bgetattr\s*\("),
    ("/proc", r"/proc\b"),
    (
        "IPython internals",
        r"\bIPython\b|input_transformers|ast_transformers|"
        r"\bevents\s*\.\s*register\b|\bregister_magic",
    ),
    ("__code__", r"__code__|__globals__|__closure__|__builtins__"),
    (
        "patches a library",
        r"(?m)^\s*(?:torch|np|numpy|math|F|nn|sys|os)(?:\s*\.\s*\w+)+"
        r"\s*=(?!=)",
    ),
    ("process", r"\b(?:fork|forkpty|setsid|multiprocessing|Popen|spawn[lv]p?e?)\b"),
)


class WrongExerciseError(ValueError):
    """The submission is the notebook of another exercise than the solution's."""


@dataclass
class MergeReport:
    """What the merge took from the submission."""

    found: list[str] = field(default_factory=list)  # grade ids whose answers were taken
    missing: list[str] = field(default_factory=list)  # no answer: absent, or still the stub
    unchanged: list[str] = field(default_factory=list)  # the part of `missing` left as stub
    matched_by_cell_id: list[str] = field(default_factory=list)  # found via cell id only
    flags: dict[str, list[str]] = field(default_factory=dict)  # grade id -> flag names
    forbidden: dict[str, list[str]] = field(default_factory=dict)  # flags the prompt forbids

    def to_dict(self) -> dict:
        return {
            "found": self.found,
            "missing": self.missing,
            "unchanged": self.unchanged,
            "matched_by_cell_id": self.matched_by_cell_id,
            "flags": self.flags,
            "forbidden": self.forbidden,
        }


def scan_flags(source: str) -> list[str]:
    """Names of the ``FLAG_PATTERNS`` that occur in ``source`` (comments included)."""
    return [name for name, pattern in FLAG_PATTERNS if re.search(pattern, source)]


def forbidden_hits(source: str, forbid: list) -> list[str]:
    """Names of the ``forbid`` entries that ``source`` raises: an entry is the name of one
    of ``FLAG_PATTERNS`` or ``{"name": ..., "pattern": regex}`` for a construct of one
    exercise (e.g. ``classifier.accuracy``, which 10.1.c forbids and 10.3.c uses)."""
    flags = set(scan_flags(source))
    hits = []
    for entry in forbid:
        if isinstance(entry, str) and entry in flags:
            hits.append(entry)
        elif isinstance(entry, dict) and re.search(entry["pattern"], source):
            hits.append(entry["name"])
    return hits


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _answer_cells(nb: NotebookNode) -> list[tuple[int, NotebookNode, str]]:
    """(index, cell, grade id) of the answer cells; malformed metadata is ignored."""
    found = []
    for index, cell in enumerate(nb.cells):
        try:
            meta = grade_meta(cell)
        except ValueError:  # a student's copy may carry broken metadata: not an answer
            continue
        if meta is not None and meta.role == "answer":
            found.append((index, cell, meta.id))
    return found


def merge_submission(
    instructor_nb: NotebookNode, submission_nb: NotebookNode
) -> tuple[NotebookNode, MergeReport]:
    """Put the submission's answer sources into a copy of the instructor's notebook.

    Matching, for each answer cell of the instructor's copy (grade id g, cell id c):
    1. the submission's answer cells with grade id g: if one, it; if several where the
       exercise has one, all of them in notebook order (what the student ran; flagged
       "several answer cells"); if several where it has several, the one with cell id
       c, else the k-th for the instructor's k-th answer cell of g;
    2. otherwise the submission's code cell with cell id c, unless that cell claims
       another role (a check or prompt cell is never taken as an answer).

    Args:
        instructor_nb: the grader's copy (``build_exercise(solution, keep_hidden=True)``);
            not modified.
        submission_nb: the student's notebook; not modified.
    Returns:
        (merged notebook, report). The merged notebook is the instructor's, with matched
        answer sources replaced; answer outputs stay cleared.
    Raises:
        WrongExerciseError: (a ValueError) if the submission has answer cells and none of
            their grade ids is a part of the instructor's exercise.
    """
    merged = copy.deepcopy(instructor_nb)
    report = MergeReport()
    sub_answers = _answer_cells(submission_nb)
    theirs = sorted({gid for _, _, gid in sub_answers})
    ours = sorted({gid for _, _, gid in _answer_cells(merged)})
    if theirs and not set(theirs) & set(ours):
        # matching by cell id would take another exercise's answers as this one's
        raise WrongExerciseError(
            f"the submission answers parts {', '.join(theirs)}, none of which is a part of "
            f"this exercise ({', '.join(ours)}): it is the notebook of another exercise, or "
            "the wrong solution was given (check --solutions)"
        )
    by_grade: dict[str, list[NotebookNode]] = {}
    for _, cell, gid in sub_answers:
        by_grade.setdefault(gid, []).append(cell)
    by_cell_id = {
        cell.get("id"): cell
        for cell in submission_nb.cells
        if cell.get("id") and cell.get("cell_type") == "code"
    }
    seen_per_grade: dict[str, int] = {}
    ours_per_grade: dict[str, int] = {}
    for _, _, gid in _answer_cells(merged):
        ours_per_grade[gid] = ours_per_grade.get(gid, 0) + 1
    # ids of the exercise's other cells (checks, prompts): a cell carrying one is that cell
    # relabelled as an answer, never a copy of the answer
    answer_ids = {c.get("id") for _, c, _ in _answer_cells(merged)}
    other_ids = {c.get("id") for c in merged.cells if c.get("id")} - answer_ids

    for _, cell, gid in _answer_cells(merged):
        k = seen_per_grade.get(gid, 0)
        seen_per_grade[gid] = k + 1
        cid = cell.get("id")
        candidates = by_grade.get(gid, [])
        if ours_per_grade[gid] == 1 and len(candidates) > 1:
            candidates = [c for c in candidates if c.get("id") not in other_ids] or candidates
        chosen = None
        if len(candidates) == 1:
            chosen = candidates[0]
        elif len(candidates) > 1 and ours_per_grade[gid] == 1:
            # a student who copied the answer cell (an old attempt kept above, a helper split
            # off) ran all of them, top to bottom: grade what they ran, and say so
            chosen = copy.deepcopy(candidates[0])
            chosen.source = "\n\n".join(cell_source(c) for c in candidates)
            _add(report.flags.setdefault(gid, []), "several answer cells (graded in order)")
        elif candidates:
            same_id = [c for c in candidates if cid and c.get("id") == cid]
            chosen = same_id[0] if same_id else (candidates[k] if k < len(candidates) else None)
        if chosen is None and cid in by_cell_id:
            other = by_cell_id[cid]
            meta = other.get("metadata", {}).get("grade")
            role = meta.get("role") if isinstance(meta, dict) else None
            if role in (None, "answer"):
                chosen = other
                _add(report.matched_by_cell_id, gid)
        if chosen is None:
            _add(report.missing, gid)
            continue
        source = cell_source(chosen)
        if source == cell_source(cell):
            _add(report.unchanged, gid)
            _add(report.missing, gid)
            continue
        cell.source = source
        _add(report.found, gid)
        flags = scan_flags(source)
        if flags:
            known = report.flags.setdefault(gid, [])
            known.extend(f for f in flags if f not in known)
        hits = forbidden_hits(source, cell.get("metadata", {}).get("grade", {}).get("forbid", []))
        if hits:
            known = report.flags.setdefault(gid, [])
            known.extend(f for f in hits if f not in known)
            known = report.forbidden.setdefault(gid, [])
            known.extend(f for f in hits if f not in known)
    return merged, report


def stub_answers(
    merged_nb: NotebookNode, instructor_nb: NotebookNode, grade_ids: set[str]
) -> NotebookNode:
    """A copy of ``merged_nb`` whose answers for ``grade_ids`` are the instructor's stubs.

    Used by the runner to rerun a notebook without a part that hung the kernel. Both
    notebooks must have the same cells in the same order (the merged one is made from the
    instructor's copy).
    """
    out = copy.deepcopy(merged_nb)
    stubs = {index: cell for index, cell, gid in _answer_cells(instructor_nb) if gid in grade_ids}
    for index, stub in stubs.items():
        out.cells[index].source = cell_source(stub)
    return out
