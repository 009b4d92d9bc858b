"""Autograding for the course's exercise notebooks.

``solutions/NAME.ipynb`` is the single source: answer cells hold the solution between
``# BEGIN SOLUTION`` / ``# END SOLUTION``, check cells print deterministic lines whose
expected output is stored in the notebook (see ``markup.py`` for the metadata).

    ldm-teach build-exercises [--solutions solutions/] [--exercises exercises/] [--check]
                              [--force]
        write exercises/NAME.ipynb from solutions/NAME.ipynb (answers stubbed); with
        --check write nothing, list out-of-date exercises and exit 1 if there are any.
        A file that is not exactly what was generated (a student edited it) is never
        overwritten or deleted: the build writes nothing, lists them and exits 1;
        --force overwrites (deletes) them, losing their edits.

    ldm-teach grade SUBMISSION.ipynb|FOLDER [...] --solutions solutions/ --out grades/
                    [--timeout 60] [--overwrite] [--secret S]
        grade each notebook (a folder: every .ipynb below it, a whole class in one call)
        against its solution: only answer cells are taken from the submission, check cells
        come from the solution, and the merged notebook runs under nbval in an empty
        temporary folder, its kernel in a sandbox (``sandbox.py``), plus hidden checks on
        inputs drawn from the secret (``probes.py``). Writes NAME.json, NAME.junit.xml,
        NAME.classroom.json and NAME.classroom.b64 per submission (never overwriting:
        NAME.1.json, ... unless --overwrite) and, for more than one submission,
        class_summary.csv (a submission that cannot be read is a row with its error);
        prints a table. Exit status 0 when every submission was graded (whatever the
        scores), 1 if one could not be, 2 for bad arguments.

    ldm-teach check NOTEBOOK.ipynb [...]   (students)
        run the answers of a notebook against the pristine exercise's public checks;
        exit 0 if every part passes, 1 if one fails, 2 if the notebook cannot be checked.

    ldm-teach workspace [FOLDER]           (students)
        copy the exercises into FOLDER (default my-exercises/); files there are kept.

    ldm-teach classroom FOLDER --exercise NAME   (instructors)
        write a GitHub Classroom template repository with a grading workflow.

``ldm_teach.cli`` adds these with ``add_grading_parsers(sub)``; ``grade_main(argv)``,
``check_main(argv)`` and ``build_exercises_main(argv)`` run one as a function.

Modules: ``checks`` (helpers for check cells and probes), ``verdict`` (the PASS/FAIL
lines), ``markup`` (the cells' grade metadata and solution markers), ``generate`` (exercises
from solutions), ``wrap`` (check cells wrapped for the self-check and for independent
parts), ``merge`` (answers into the instructor's copy, flags), ``locate`` (which solution
a submission answers), ``nbrun`` (one nbval run), ``sandbox`` (the kernel's bubblewrap
sandbox), ``probes`` (hidden checks on secret inputs), ``grade`` (grading one
submission), ``report`` (report files and the table), ``batch`` (a class folder, the
class CSV), ``selfcheck`` (``ldm-teach check``), ``handout`` (workspace, classroom
template), ``commands`` (the subcommands), ``runner`` (the pipeline's public names in one
place), ``pytest_plugin`` (per-cell scores inside the nbval run).
"""

from __future__ import annotations

import importlib

# Check cells import ``ldm_teach.grading.checks`` in every kernel, so this package imports
# nothing heavy up front: nbformat alone takes about 2 s to import. The grading API below
# is loaded on first use (PEP 562 module __getattr__); each name lives in the module shown.
from ldm_teach.grading.checks import fmt, hint, require_type, run_quietly

_LAZY = {
    "build_all": "generate",
    "build_exercise": "generate",
    "MergeReport": "merge",
    "merge_submission": "merge",
    "GradeReport": "runner",
    "GradingError": "runner",
    "grade_notebook": "runner",
    "check_notebook": "selfcheck",
    "add_grading_parsers": "commands",
    "build_exercises_main": "commands",
    "check_main": "commands",
    "grade_main": "commands",
}

__all__ = [
    "GradeReport",
    "GradingError",
    "MergeReport",
    "add_grading_parsers",
    "build_all",
    "build_exercise",
    "build_exercises_main",
    "check_main",
    "check_notebook",
    "fmt",
    "grade_main",
    "grade_notebook",
    "hint",
    "merge_submission",
    "require_type",
    "run_quietly",
]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"ldm_teach.grading.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'ldm_teach.grading' has no attribute {name!r}")
