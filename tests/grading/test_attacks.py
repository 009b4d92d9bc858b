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
    report = _grade(tmp_path, "ref", _keep(attacks.reference_import(how), parts), _trimmed(parts))
    a = report.parts["10.1.a"]
    assert (a.score, a.status) == (0, "forbidden")
    # its 3 public checks pass: the flag zeroes it (the probe compares with the solution's
    # own arithmetic and may differ in the last digits)
    assert a.checks == 4 and a.checks_passed >= 3
    assert how in report.merge.forbidden["10.1.a"] and "getattr(" in report.merge.flags["10.1.a"]
    assert "which the prompt forbids" in a.message


def test_stubs_with_an_input_transformer_earn_nothing(tmp_path):
    # before: 10/10, as each public check cell was rewritten into a print of its stored
    # output; the probes (secret inputs, compared outside the kernel) cannot be printed
    report = _grade(tmp_path, "transformer", attacks.transformer_stub(), attacks.solution())
    assert report.total == 0 and report.max_total == 10
    assert "IPython internals" in report.merge.flags["10.1.a"]
    assert "10.1.a" in report.merge.forbidden  # the prompt of 10.1.a forbids get_ipython
    for gid in ("10.1.c", "10.1.d"):  # the transformer did fool their public checks ...
        part = report.parts[gid]
        assert part.checks_passed == part.checks - 1 == 1
        # ... but not the probe, whose inputs and expected values it never saw
        assert part.message == "check 2/2 (hidden, secret inputs): failed"
    assert report.hidden_inputs["probes"] == 4


def test_answers_cannot_read_the_solutions_or_the_graders_environment(tmp_path):
    # before: 10/10 by exec-ing the solution notebook found through the package's path,
    # and /proc gave the grader's token and results path
    report = _grade(tmp_path, "steal", attacks.read_solutions(), attacks.solution())
    if report.sandbox.startswith("bwrap"):
        assert report.total == 0
    assert report.parts["10.1.a"].status == "forbidden"  # ldm_teach and exec( are forbidden
    assert all("exec(" in report.merge.flags[g] for g in ("10.1.a", "10.1.b", "10.1.d"))
    marker = tmp_path / "found.txt"
    parts = {"10.1.a"}
    report = _grade(tmp_path, "proc", _keep(attacks.proc_environ(marker), parts), _trimmed(parts))
    assert "/proc" in report.merge.flags["10.1.a"]
    if report.sandbox.startswith("bwrap"):
        assert not marker.exists()  # the kernel cannot write outside its work folder ...
    found = marker.read_text() if marker.exists() else ""
    assert "LDM_TEACH_GRADE_TOKEN" not in found  # ... nor read the grader's environment


@pytest.mark.slow
def test_a_forked_process_does_not_outlive_grading(tmp_path):
    # before: a process that left the kernel's session rewrote the JSON report to 10/10
    # after the table was printed; in the sandbox's PID namespace it dies with the kernel
    import json
    import subprocess
    import sys
    import time

    path = tmp_path / "fork" / "fork.ipynb"
    path.parent.mkdir()
    nbformat.write(attacks.fork_rewrite(), path)
    out = tmp_path / "grades"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ldm_teach.cli",
            "grade",
            str(path),
            "--solutions",
            str(attacks.ROOT / "solutions"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    first = json.loads((out / "fork.json").read_text())
    time.sleep(5)  # the attacker polls every 0.5 s; give it time to act if it survived
    later = json.loads((out / "fork.json").read_text())
    assert first["total"] == later["total"] == 0
    assert "process" in later["flags"]["10.1.a"]


@pytest.mark.slow
def test_a_patched_allclose_does_not_pass_a_wrong_vector_quantize(tmp_path):
    # before: 10/10 with torch.allclose patched, 6/10 without the patch
    report = _grade(
        tmp_path, "allclose", attacks.allclose_patch(), attacks.solution(attacks.EX10_2)
    )
    assert report.parts["10.2.a"].score == 0
    assert report.total == 6
    assert "patches a library" in report.merge.flags["10.2.a"]
