"""``ldm-teach check``: the student's self-check cannot be fooled by the student's own file,
and check cells say PASS or FAIL in the notebook itself (issue 13)."""

from __future__ import annotations

import copy
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from ldm_teach.grading import build_exercise, check_main
from ldm_teach.grading.selfcheck import check_notebook, format_check
from tests.grading.test_grading_runner import MEAN_CORRECT, _solution_notebook

pytestmark = pytest.mark.notebook

ADD = "def add(a, b):\n    return a + b"
WRONG_MEAN = "def mean(xs):\n    return 0.0"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A folder holding the pristine exercise of the tiny two-part course."""
    root = tmp_path_factory.mktemp("pristine")
    nb = _solution_notebook()
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    exercise = build_exercise(nb, source_name="ex99.ipynb")
    nbformat.write(exercise, root / "ex99.ipynb")
    return root, exercise


def _student(exercise, answers):
    nb = copy.deepcopy(exercise)
    for cell in nb.cells:
        grade = cell.metadata.get("grade", {})
        if grade.get("role") == "answer" and grade["id"] in answers:
            cell.source = answers[grade["id"]]
    return nb


def test_saved_wrong_outputs_fool_nbval_but_not_ldm_teach_check(pristine, tmp_path):
    folder, exercise = pristine
    student = _student(exercise, {"99.1.a": ADD, "99.1.b": WRONG_MEAN})
    NotebookClient(
        student, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    path = tmp_path / "my_ex99.ipynb"
    nbformat.write(student, path)  # what JupyterLab's autosave does after a run
    before = path.read_bytes()

    # the check cells said so in the notebook itself
    texts = [
        "".join(o.get("text", "") for o in c.outputs)
        for c in student.cells
        if c.metadata.get("grade", {}).get("role") == "check"
    ]
    assert texts[0].endswith("PASS 99.1.a check 1/1\n")
    assert "FAIL 99.1.b check 1/1" in texts[1]
    assert "  expected: 2.3333\n  got:      0.0000\n" in texts[1]

    # the old self-check compares the file with itself: everything "passes"
    old = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert old.returncode == 0, old.stdout

    result = check_notebook(path, timeout=60, pristine_dir=folder)
    assert {g: p.status for g, p in result.parts.items()} == {"99.1.a": "pass", "99.1.b": "fail"}
    b = result.parts["99.1.b"]
    assert (b.expected, b.got) == ("2.3333", "0.0000")
    text = format_check(result)
    assert "PASS  99.1.a" in text and "FAIL  99.1.b" in text
    assert "expected: 2.3333" in text and "got:      0.0000" in text
    assert path.read_bytes() == before  # the student's file is only read


def test_check_main_exit_status(pristine, tmp_path, monkeypatch, capsys):
    folder, exercise = pristine
    from ldm_teach.grading import selfcheck

    monkeypatch.setattr(selfcheck, "PRISTINE_DIR", folder)
    good = tmp_path / "good.ipynb"
    nbformat.write(_student(exercise, {"99.1.a": ADD, "99.1.b": MEAN_CORRECT}), good)
    assert check_main([str(good)]) == 0
    assert "2/2 parts pass their public checks" in capsys.readouterr().out
    assert check_main([str(tmp_path / "missing.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    (tmp_path / "cut.ipynb").write_text(good.read_text()[:200])
    assert check_main([str(tmp_path / "cut.ipynb")]) == 2
    assert "not a readable notebook" in capsys.readouterr().err
    assert check_main([str(good), "--timeout", "inf"]) == 2
