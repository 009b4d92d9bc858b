"""Tables for notebooks: rows of values in, an HTML table in JupyterLab, stable text for nbval.

Notebooks used to format every table by hand with f-strings. :func:`table` takes the
values and a format per column, and returns a :class:`Table` that Jupyter renders as HTML
(``_repr_html_``) and that prints as aligned plain text (``text/plain``, what nbval
compares)::

    table([("f=4", 4 * 8 * 8, 27.31), ("f=8", 2 * 4 * 4, 21.02)],
          columns=("model", "latent values", "PSNR (dB)"),
          formats={"PSNR (dB)": ".2f"})

Numbers are right-aligned, text left-aligned; a format is a ``format()`` spec (".2f",
",", ".1%") or a callable ``value -> str``; None cells print as "-".
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Table", "table"]

Format = str | Callable[[Any], str]


def _cell(value: Any, fmt: Format | None) -> str:
    if value is None:
        return "-"
    if callable(fmt):
        return str(fmt(value))
    if fmt is not None:
        return format(value, fmt)
    if isinstance(value, float):
        return format(value, ".4g")
    return str(value)


class Table:
    """A formatted table: ``columns`` (header strings) and ``cells`` (rows of strings).

    Displayed by Jupyter as HTML (cells never wrap: a wide table scrolls sideways);
    ``str(table)`` and ``repr(table)`` are the plain-text layout (columns separated by two
    spaces, a rule under the header, an optional title line above).
    """

    def __init__(
        self,
        columns: Sequence[str],
        cells: Sequence[Sequence[str]],
        numeric: Sequence[bool],
        title: str | None = None,
    ) -> None:
        self.columns = tuple(columns)
        self.cells = tuple(tuple(row) for row in cells)
        self.numeric = tuple(numeric)
        self.title = title

    def __str__(self) -> str:
        widths = [
            max([len(c)] + [len(row[j]) for row in self.cells]) for j, c in enumerate(self.columns)
        ]

        def line(values: Sequence[str]) -> str:
            parts = [
                v.rjust(w) if num else v.ljust(w)
                for v, w, num in zip(values, widths, self.numeric, strict=True)
            ]
            return "  ".join(parts).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.columns), "  ".join("-" * w for w in widths)]
        out += [line(row) for row in self.cells]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def tag(name: str, value: str, num: bool) -> str:
            align = "right" if num else "left"
            # nowrap: JupyterLab's CSS lets cells wrap, which breaks a wide table's rows;
            # a table wider than the output area scrolls sideways instead
            style = f"text-align:{align};white-space:nowrap"
            return f'<{name} style="{style}">{html.escape(value)}</{name}>'

        head = "".join(tag("th", c, n) for c, n in zip(self.columns, self.numeric, strict=True))
        rows = (
            "".join(tag("td", v, n) for v, n in zip(row, self.numeric, strict=True))
            for row in self.cells
        )
        body = "".join(f"<tr>{row}</tr>" for row in rows)
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    formats: Mapping[str, Format] | None = None,
    title: str | None = None,
) -> Table:
    """A :class:`Table` of ``rows`` (one sequence of values per row) under ``columns``.

    Args:
        rows: the values, one sequence per row, each as long as ``columns``.
        columns: the header of each column.
        formats: column name -> ``format()`` spec or callable; columns without one print
            ints as they are and floats with 4 significant digits.
        title: an optional line above the table (an HTML caption).
    Raises:
        ValueError: if a row's length differs from the number of columns, or ``formats``
            names a column that does not exist.
    """
    columns = tuple(str(c) for c in columns)
    formats = dict(formats or {})
    unknown = sorted(set(formats) - set(columns))
    if unknown:
        raise ValueError(
            f"formats names columns that do not exist: {unknown} (columns: {list(columns)})"
        )
    rows = [tuple(r) for r in rows]
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(
                f"row {i} has {len(row)} values, expected {len(columns)} "
                f"(one per column {list(columns)})"
            )
    numeric = [
        bool(rows) and all(isinstance(r[j], numbers.Number) or r[j] is None for r in rows)
        for j in range(len(columns))
    ]
    cells = [[_cell(v, formats.get(c)) for v, c in zip(row, columns, strict=True)] for row in rows]
    return Table(columns, cells, numeric, title)
