"""The PASS/FAIL verdict a check cell prints about itself: :func:`begin_check` and
:class:`SelfCheck`.

``ldm-teach build-exercises`` wraps every check cell of an exercise between two generated
lines (see ``wrap.wrap_check``)::

    _check = begin_check("10.1.a", 1, 3, expected="shape: (4,)\\n...")
    ...the check cell's own code...
    _check.finish()

so that running the cell in JupyterLab prints PASS, or FAIL with the first lines that
differ, below the check's own output. The grader's copy adds the solution's versions of
the functions of earlier parts (``solutions=``), which the check uses while it runs, so a
mistake in 10.1.a does not also cost 10.1.b.

Check cells import :func:`begin_check` from :mod:`ldm_teach.grading.checks`, which
re-exports it; like that module, this one imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any

from ldm_teach.argcheck import check_int


class _Tee:
    """A text stream that writes through to ``stream`` and keeps a copy of what it wrote."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, ... of the real stream
        return getattr(self.stream, name)


class SelfCheck:
    """One running check cell: records its stdout, lends it solution functions, says
    PASS or FAIL. Made by :func:`begin_check`; :meth:`finish` ends it."""

    _current: SelfCheck | None = None  # a check whose cell raised before finish()

    def __init__(
        self,
        part: str,
        index: int,
        total: int,
        expected: str | None,
        uses: tuple[str, ...],
        namespace: dict | None,
        solutions: tuple[str, ...],
    ) -> None:
        self.part, self.index, self.total = part, index, total
        self.expected, self.uses = expected, uses
        self.namespace = namespace
        self.saved: dict[str, Any] = {}
        self.passed: bool | None = None
        self.tee = _Tee(sys.stdout)
        if namespace is not None and solutions:
            self._lend(namespace, solutions)
        sys.stdout = self.tee

    def _lend(self, namespace: dict, solutions: tuple[str, ...]) -> None:
        """Run each solution source in a copy of ``namespace`` and put the names it binds
        into ``namespace`` until :meth:`finish` (the old values are kept to restore)."""
        import ast

        for source in solutions:
            scratch = dict(namespace)
            exec(compile(source, f"<solution of an earlier part of {self.part}>", "exec"), scratch)
            for node in ast.parse(source).body:
                names = (
                    [node.name]
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    else []
                )
                for name in names:
                    self.saved.setdefault(name, namespace.get(name, _MISSING))
                    namespace[name] = scratch[name]

    def _restore(self) -> None:
        if sys.stdout is self.tee:
            sys.stdout = self.tee.stream
        for name, value in self.saved.items():
            if value is _MISSING:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value
        self.saved = {}

    def finish(self) -> None:
        """End the check: restore stdout and the student's functions; print PASS, or FAIL
        with the first differing lines (nothing for a hidden check). Sets ``passed``
        (None for a hidden check). Returns None, so the cell shows no result value."""
        self._restore()
        SelfCheck._current = None
        if self.expected is None:
            return
        got = "".join(self.tee.parts)
        what = f"{self.part} check {self.index}/{self.total}"
        self.passed = got == self.expected
        if self.passed:
            print(f"PASS {what}")
            return
        print(f"FAIL {what}: the printout above differs from the expected one")
        want_lines, got_lines = self.expected.splitlines(), got.splitlines()
        shown = 0
        for k in range(max(len(want_lines), len(got_lines))):
            want = want_lines[k] if k < len(want_lines) else "(no line)"
            have = got_lines[k] if k < len(got_lines) else "(no line)"
            if want != have and shown < 3:
                print(f"  expected: {want}\n  got:      {have}")
                shown += 1
        if self.uses:
            print(
                f"  note: this check calls your functions of {', '.join(self.uses)}; if "
                "those fail, fix them first (the grader scores this part with the "
                "solution's versions of them)"
            )


_MISSING = object()


def begin_check(
    part: str,
    index: int,
    total: int,
    expected: str | None = None,
    uses: tuple[str, ...] = (),
    namespace: dict | None = None,
    solutions: tuple[str, ...] = (),
) -> SelfCheck:
    """Start the self-check of a check cell (a generated line; see the module docstring).

    Args:
        part: the grade id, e.g. ``"10.1.a"``.
        index, total: this check's number among the part's checks (1-based), and how many.
        expected: the printout the check cell must produce; None for a hidden check (it
            prints no verdict).
        uses: grade ids of earlier parts whose functions this part's code calls (named in
            the FAIL note).
        namespace: the notebook's globals, into which ``solutions`` are lent.
        solutions: sources of the solution's answers of earlier parts (grader's copy only).
    Returns:
        The running check; call ``.finish()`` at the end of the cell.
    Raises:
        ValueError: if ``index`` is not in [1, total].
    """
    check_int(total, "total", 1)
    check_int(index, "index", 1, total)
    if SelfCheck._current is not None:  # the previous check cell raised: undo what it did
        SelfCheck._current._restore()
    SelfCheck._current = SelfCheck(
        part, index, total, expected, tuple(uses), namespace, tuple(solutions)
    )
    return SelfCheck._current
