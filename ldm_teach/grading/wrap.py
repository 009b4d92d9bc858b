"""Check cells wrapped for a self-check: PASS/FAIL lines; solution functions lent to later parts.

``build_exercise`` passes every check cell through :func:`wrap_check`, which puts one
generated line above the cell's code and one below it::

    from ldm_teach.grading.checks import begin_check  # generated: prints PASS or FAIL
    _check = begin_check("10.1.a", 1, 3, expected='shape: (4,)\\n...')
    ...the check's own code...
    _check.finish()

and appends ``PASS 10.1.a check 1/3`` to the stored expected output, so a student who runs
the cell reads PASS, or FAIL with the expected and the printed lines, and nbval still
compares the whole printout. In the grader's copy (``lend=True``) the first line also
carries the solution's answers of the earlier parts whose functions this part calls
(found in the solution's source, :func:`part_uses`): while the check runs, those names
hold the solution's versions, so one mistake costs one part only.

A check cell whose stored output is not plain text (a figure, a value shown as the cell's
result) is left as it is: the line below the code would hide the result.
"""

from __future__ import annotations

import ast

import nbformat
from nbformat import NotebookNode

from ldm_teach.grading.cells import cell_source

WRAP_MARK = "# generated: prints PASS or FAIL"


def defined_names(source: str) -> set[str]:
    """Top-level functions and classes that ``source`` defines (empty if it does not parse)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return set()
    return {
        node.name
        for node in body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def used_names(source: str) -> set[str]:
    """Every name that ``source`` reads (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def part_uses(answers: list[tuple[str, str]]) -> dict[str, list[str]]:
    """For each part, the earlier parts whose functions its solution calls.

    Args:
        answers: (grade id, solution source) of the answer cells, in notebook order.
    Returns:
        grade id -> grade ids of earlier parts (in order) defining a name it reads.
    """
    order: list[str] = []
    defined: dict[str, set[str]] = {}
    used: dict[str, set[str]] = {}
    for gid, source in answers:
        if gid not in order:
            order.append(gid)
        defined.setdefault(gid, set()).update(defined_names(source))
        used.setdefault(gid, set()).update(used_names(source))
    out = {}
    for k, gid in enumerate(order):
        out[gid] = [g for g in order[:k] if defined[g] & (used[gid] - defined[gid])]
    return out


def _stdout(cell: NotebookNode) -> str | None:
    """The stored stdout of a check cell, or None if it has outputs other than text."""
    if any(o.get("output_type") != "stream" for o in cell.get("outputs", [])):
        return None
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def wrap_check(
    cell: NotebookNode,
    part: str,
    index: int,
    total: int,
    hidden: bool,
    uses: list[str],
    lend: list[str],
) -> None:
    """Wrap one check cell in place (see the module docstring).

    Args:
        cell: the check cell, with its stored outputs (modified in place).
        part: its grade id; index, total: its number among the part's checks of its kind
            (public or hidden), 1-based.
        hidden: a hidden check prints no verdict and its expected output is not written
            into the source.
        uses: earlier parts whose functions this part calls (named in a FAIL note).
        lend: sources of the solution's answers of those parts (grader's copy), or [].
    """
    expected = _stdout(cell)
    if expected is None or WRAP_MARK in cell_source(cell):
        return
    args = [repr(part), str(index), str(total)]
    if not hidden:
        args.append(f"expected={expected!r}")
    if uses:
        args.append(f"uses={tuple(uses)!r}")
    if lend:
        args.append(f"namespace=globals(), solutions={tuple(lend)!r}")
    cell.source = (
        f"from ldm_teach.grading.checks import begin_check  {WRAP_MARK}\n"
        f"_check = begin_check({', '.join(args)})\n"
        f"{cell_source(cell)}\n_check.finish()"
    )
    if not hidden:
        cell.outputs.append(
            nbformat.v4.new_output(
                "stream", name="stdout", text=f"PASS {part} check {index}/{total}\n"
            )
        )


def wrap_probe(cell: NotebookNode, part: str, lend: list[str]) -> None:
    """Give a probe cell (grader's copy) the solution's functions of the earlier parts it
    uses, as :func:`wrap_check` does for check cells; without ``lend``, leave it as it is."""
    if not lend or WRAP_MARK in cell_source(cell):
        return
    cell.source = (
        f"from ldm_teach.grading.checks import begin_check  {WRAP_MARK}\n"
        f"_check = begin_check({part!r}, 1, 1, namespace=globals(), "
        f"solutions={tuple(lend)!r})\n{cell_source(cell)}\n_check.finish()"
    )
