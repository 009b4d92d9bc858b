"""The grading pipeline in one place: merge, run under nbval in isolation, score, report.

This module only gathers the pipeline's public names; each step lives in its own module:
``locate`` (finding the solution), ``nbrun`` (one nbval run), ``grade`` (grading one
submission), ``report`` (reports) and ``batch`` (many submissions).

For one submission (``grade_notebook``):

1. The instructor's copy is built from the solution (``build_exercise(solution,
   keep_hidden=True)``: answers stubbed, hidden checks kept) and the submission's answer
   sources are merged into it (``merge_submission``). Nothing else from the submission,
   nor from its folder, is used: a student's ``conftest.py`` is never seen.
2. The merged notebook is written to a fresh ``tempfile.mkdtemp`` folder and run by
   ``python -m pytest merged.ipynb --nbval-lax --nbval-current-env
   --nbval-cell-timeout=T --noconftest -p no:cacheprovider -p ldm_teach.grading.pytest_plugin``
   in a subprocess (its own session, so its kernel can be killed with it), with
   plugin auto-loading off, ``IPYTHONDIR``/``MPLCONFIGDIR``/``JUPYTER_*`` inside that
   folder, ``MPLBACKEND=Agg``, and an overall limit of (code cells + 2) x (T + 10) s.
   Scores and the junit XML are written to a second, private temporary folder.
3. Timeouts. nbval fails a cell that runs past T, interrupts (or stops) the kernel and
   marks every later cell xfail; measured with nbval 0.11: after an interruptible loop the
   kernel survives and later cells still run (XPASS/XFAIL), after an uninterruptible one
   the kernel is stopped and every later cell fails. Neither result is a fair score for
   later parts, so the plugin stops the run at the first such *break* and this module
   reruns the notebook with the guilty part's answer replaced by the stub (the part that
   owns the cell, or for an ungraded cell the nearest answer above it). The guilty part
   scores 0 with status ``timeout``; each later part is scored by the rerun. A run
   without a break ends the loop; a break that no stub can remove (an instructor cell
   slower than T) leaves the parts it kept from running at 0 with status ``not run``.

Reports, for submission NAME in ``out_dir``: ``NAME.json`` (points per part, maximum,
total, flags, missing answers, durations), ``NAME.junit.xml`` (nbval's, from the final
run), ``NAME.classroom.json`` (GitHub Classroom's reporter format) and its base64 in
``NAME.classroom.b64``. Reports are never overwritten silently: if any of them exists,
the files are written as ``NAME.1.json``, ``NAME.2.json``, ... unless ``overwrite=True``.
The JSON and Classroom reports say only "failed" for a hidden check; the junit XML is
nbval's full account (sources and expected outputs of hidden checks included), meant for
the instructor.
"""

from ldm_teach.grading.batch import collect_submissions, write_class_summary
from ldm_teach.grading.grade import grade_notebook
from ldm_teach.grading.locate import find_solution
from ldm_teach.grading.nbrun import MAX_TIMEOUT_S, NOTEBOOK_NAME, check_timeout
from ldm_teach.grading.report import (
    REPORT_SUFFIXES,
    GradeReport,
    GradingError,
    PartResult,
    format_table,
    free_stem,
    write_reports,
)

__all__ = [
    "MAX_TIMEOUT_S",
    "NOTEBOOK_NAME",
    "REPORT_SUFFIXES",
    "GradeReport",
    "GradingError",
    "PartResult",
    "check_timeout",
    "collect_submissions",
    "find_solution",
    "format_table",
    "free_stem",
    "grade_notebook",
    "write_class_summary",
    "write_reports",
]
