"""Shared helpers of the exercise mutation tests: find an answer cell, apply mutants."""

from __future__ import annotations

import copy

import nbformat

# (name, grade id, exact text in the solution's answer cell, replacement)
Mutant = tuple[str, str, str, str]


def answer_cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """The one answer cell of ``grade_id`` (fails the test if there is not exactly one)."""
    cells = [
        c
        for c in nb.cells
        if c.get("metadata", {}).get("grade", {}).get("role") == "answer"
        and c.metadata.grade.get("id") == grade_id
    ]
    assert len(cells) == 1, f"expected one answer cell for {grade_id}, found {len(cells)}"
    return cells[0]


def apply_mutants(nb: nbformat.NotebookNode, mutants: list[Mutant]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with each mutant's text replaced in its part's answer cell; the text
    must occur exactly once, so a mutant can never silently stop applying."""
    nb = copy.deepcopy(nb)
    for name, grade_id, old, new in mutants:
        cell = answer_cell(nb, grade_id)
        assert cell.source.count(old) == 1, f"mutant {name!r}: {old!r} not found exactly once"
        cell.source = cell.source.replace(old, new)
    return nb
