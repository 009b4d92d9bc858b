"""Reading notebook cells, shared by every grading module (imports nothing of ours)."""

from __future__ import annotations

from nbformat import NotebookNode


def cell_source(cell: NotebookNode) -> str:
    """The source of a cell as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)
