"""Each attack of issue 13 on the real exercises, defeated or flagged.

Points before the fix are in the issue's closing note (measured with
``python -m tests.grading.measure_attacks``); these tests pin the points after. Every
grading run starts a kernel on a real exercise (tens of seconds), so runs are few and
trimmed to the parts an attack touches.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from ldm_teach.grading.runner import grade_notebook
from tests.grading import attacks
from tests.grading.test_exercises import _trimmed

pytestmark = pytest.mark.notebook


def _grade(tmp: Path, name: str, submission, solution) -> object:
    sol_path = tmp / f"{name}.solution.ipynb"
    nbformat.write(solution, sol_path)
    sub_path = tmp / name / f"{name}.ipynb"
    sub_path.parent.mkdir(parents=True)
    nbformat.write(submission, sub_path)
    return grade_notebook(sub_path, sol_path, tmp / "reports", timeout=120, name=name)


def _keep(nb, parts: set[str]):
    """``nb`` with the cells of ``_trimmed(parts)`` only (same cell ids)."""
    ids = {c.id for c in _trimmed(parts).cells}
    nb.cells = [c for c in nb.cells if c.id in ids]
    return nb


def test_a_wrong_psnr_costs_10_1_a_only(tmp_path):
    # before: 10.1.b scored 0 too, as its check called the student's psnr
    parts = {"10.1.a", "10.1.b"}
    report = _grade(tmp_path, "wrong-psnr", _keep(attacks.wrong_psnr(), parts), _trimmed(parts))
    assert report.parts["10.1.a"].score == 0
    assert report.parts["10.1.b"].score == 3 and report.parts["10.1.b"].status == "pass"
    a = report.parts["10.1.a"]
    assert a.cell == 5 and "PSNR, data_range=2, dB" in a.expected and a.got.endswith(")")
    assert "hint:" in a.message


@pytest.mark.parametrize("how", ["importlib", "sys.modules"])
def test_the_package_psnr_that_the_prompt_forbids_scores_zero(tmp_path, how):
    # before: 3/3 for 10.1.a, unflagged
    parts = {"10.1.a"}
    report = _grade(tmp_path, "ref", _keep(attacks.reference_import(how), parts),
                    _trimmed(parts))
    a = report.parts["10.1.a"]
    assert (a.score, a.status) == (0, "forbidden")
    assert a.checks_passed == a.checks == 3  # the checks pass: only the flag zeroes it
    assert how in report.merge.forbidden["10.1.a"] and "getattr(" in report.merge.flags["10.1.a"]
    assert "which the prompt forbids" in a.message
