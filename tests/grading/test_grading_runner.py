"""Grading end to end on a tiny two-part exercise built and executed in tmp_path.

Each graded submission starts pytest and a kernel (a few seconds each), so the
scenarios are few and each checks several facts: full marks for the solution, zero for
the exercise, one wrong part costing only that part, tampering earning nothing beyond the
real answers, an infinite loop costing one part, and the report files.
"""

from __future__ import annotations

import base64
import copy
import csv
import json
import shutil

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ldm_teach.grading import build_exercise, grade_main, grade_notebook
from ldm_teach.grading.merge import MergeReport
from ldm_teach.grading.runner import (
    GradeReport,
    PartResult,
    collect_submissions,
    find_solution,
    write_reports,
)

pytestmark = pytest.mark.notebook

ADD_SOLUTION = (
    'def add(a, b):\n    """Return a + b."""\n'
    "    # BEGIN SOLUTION\n    return a + b\n    # END SOLUTION"
)
MEAN_SOLUTION = (
    'def mean(xs):\n    """Mean of a non-empty list."""\n'
    "    # BEGIN SOLUTION\n    return sum(xs) / len(xs)\n    # END SOLUTION"
)
ADD_CORRECT = (
    'def add(a, b):\n    print("debug: adding")  # silenced by run_quietly\n    return a + b'
)
MEAN_CORRECT = "def mean(xs):\n    return sum(xs) / len(xs)"


def _grade(gid: str, role: str, points: int | None = None, hidden: bool = False) -> dict:
    meta: dict = {"grade": {"id": gid, "role": role}}
    if role == "check":
        meta["grade"]["points"] = points
        meta["tags"] = ["nbval-check-output"]
        if hidden:
            meta["grade"]["hidden"] = True
    return meta


def _solution_notebook():
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        new_markdown_cell("# Exercise 99.1: two small functions"),
        new_code_cell("from ldm_teach.grading.checks import fmt, require_type, run_quietly"),
        new_markdown_cell("(a) Write `add(a, b)`.", metadata=_grade("99.1.a", "prompt")),
        new_code_cell(ADD_SOLUTION, metadata=_grade("99.1.a", "answer")),
        new_code_cell(
            'out = run_quietly(add, 2, 3)\nrequire_type(out, int, "add(2, 3)")\n'
            "print(fmt(out))\nprint(fmt(run_quietly(add, -7, 11.5)))",
            metadata=_grade("99.1.a", "check", 2),
        ),
        new_markdown_cell("(b) Write `mean(xs)`.", metadata=_grade("99.1.b", "prompt")),
        new_code_cell(MEAN_SOLUTION, metadata=_grade("99.1.b", "answer")),
        new_code_cell(
            "print(fmt(run_quietly(mean, [1.0, 2.0, 4.0])))", metadata=_grade("99.1.b", "check", 3)
        ),
        new_code_cell(
            "print(fmt(run_quietly(mean, [0.5, -3.25, 10.0, 2.0])))",
            metadata=_grade("99.1.b", "check", 1, hidden=True),
        ),
    ]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """solutions/ex99.ipynb executed once (outputs stored), and the student's exercise."""
    root = tmp_path_factory.mktemp("course")
    nb = _solution_notebook()
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    (root / "solutions").mkdir()
    solution = root / "solutions" / "ex99.ipynb"
    nbformat.write(nb, solution)
    exercise = build_exercise(nb, source_name="ex99.ipynb")
    return {"root": root, "solution": solution, "solution_nb": nb, "exercise_nb": exercise}


def _submission(course, tmp_path, answers: dict[str, str], name: str = "student"):
    """The student's exercise with some answers filled in, saved in its own folder."""
    nb = copy.deepcopy(course["exercise_nb"])
    for cell in nb.cells:
        meta = cell.metadata.get("grade", {})
        if meta.get("role") == "answer" and meta["id"] in answers:
            cell.source = answers[meta["id"]]
    folder = tmp_path / f"{name}_repo"
    folder.mkdir()
    return nb, folder / f"{name}.ipynb"


def test_stored_outputs_are_the_expected_lines(course):
    check_a = course["solution_nb"].cells[4]
    assert check_a.execution_count is not None
    assert "".join(o["text"] for o in check_a.outputs) == "5\n4.5000\n"


def test_grade_folder_full_marks_for_solution_zero_for_exercise(course, tmp_path, capsys):
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(course["solution"], klass / "alice.ipynb")  # matched by grade ids
    nbformat.write(course["exercise_nb"], klass / "bob.ipynb")  # matched by metadata
    out = tmp_path / "grades"
    assert (
        grade_main(
            [
                str(klass),
                "--solutions",
                str(course["solution"].parent),
                "--out",
                str(out),
                "--timeout",
                "60",
            ]
        )
        == 0
    )

    alice = json.loads((out / "alice.json").read_text())
    assert (alice["total"], alice["max_total"]) == (6, 6)
    assert {g: p["score"] for g, p in alice["parts"].items()} == {"99.1.a": 2, "99.1.b": 4}
    assert alice["flags"] == {} and alice["missing_answers"] == []

    bob = json.loads((out / "bob.json").read_text())
    assert (bob["total"], bob["max_total"]) == (0, 6)
    assert bob["missing_answers"] == ["99.1.a", "99.1.b"]
    assert all(p["status"] == "fail" for p in bob["parts"].values())
    assert "NotImplementedError: 99.1.a" in bob["parts"]["99.1.a"]["message"]

    classroom = json.loads((out / "alice.classroom.json").read_text())
    assert classroom == json.loads(base64.b64decode((out / "alice.classroom.b64").read_text()))
    assert classroom["version"] == 1 and classroom["status"] == "pass"
    assert classroom["max_score"] == 6
    assert [(t["name"], t["status"], t["score"], t["max_score"]) for t in classroom["tests"]] == [
        ("99.1.a", "pass", 2, 2),
        ("99.1.b", "pass", 4, 4),
    ]
    assert json.loads((out / "bob.classroom.json").read_text())["status"] == "fail"
    assert "<testcase" in (out / "bob.junit.xml").read_text()

    rows = list(csv.DictReader((out / "class_summary.csv").open()))
    assert [(r["name"], r["total"], r["99.1.a"], r["99.1.b"]) for r in rows] == [
        ("alice", "6", "2", "4"),
        ("bob", "0", "0", "0"),
    ]
    printed = capsys.readouterr().out
    assert "6/6" in printed and "0/6" in printed and "class_summary.csv" in printed


def test_an_unreadable_submission_is_an_error_row_and_the_class_is_graded(course, tmp_path, capsys):
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(course["solution"], klass / "alice.ipynb")
    text = course["solution"].read_text()
    (klass / "bob_final.ipynb").write_text(text[: len(text) // 2])  # truncated upload
    out = tmp_path / "grades"
    assert (
        grade_main([str(klass), "--solutions", str(course["solution"].parent), "--out", str(out)])
        == 1
    )  # 1: a submission could not be graded
    err = capsys.readouterr().err
    assert "bob_final.ipynb: not graded: not a readable notebook" in err
    assert json.loads((out / "alice.json").read_text())["total"] == 6
    rows = {r["name"]: r for r in csv.DictReader((out / "class_summary.csv").open())}
    assert rows["alice"]["total"] == "6" and rows["alice"]["error"] == ""
    bob = rows["bob_final"]
    assert bob["total"] == "" and "not a readable notebook" in bob["error"]


def test_one_wrong_part_costs_only_that_part_and_is_flagged(course, tmp_path):
    # (b) passes the visible check by rounding a lookup, fails the hidden one
    wrong_mean = (
        "import builtins\n\ndef mean(xs):\n"
        "    return builtins.round(7 / 3, 4) if len(xs) == 3 else 0.0"
    )
    nb, path = _submission(course, tmp_path, {"99.1.a": ADD_CORRECT, "99.1.b": wrong_mean})
    nbformat.write(nb, path)
    report = grade_notebook(path, course["solution"], tmp_path / "grades", timeout=60)
    assert report.total == 2 and report.max_total == 6
    assert report.parts["99.1.a"].status == "pass"
    b = report.parts["99.1.b"]
    assert (b.score, b.status, b.checks_passed, b.checks) == (0, "fail", 1, 2)
    assert b.message == "check 2/2 (hidden): failed"  # no expected output leaks
    assert report.merge.flags == {"99.1.b": ["builtins"]}
    saved = json.loads((tmp_path / "grades" / "student.json").read_text())
    assert saved["flags"] == {"99.1.b": ["builtins"]}


def test_tampered_submission_earns_only_its_real_answers(course, tmp_path):
    # (a) is right only if the grader's folder shows no notebook (it is deleted once
    # collected, so stored outputs of hidden checks cannot be read from disk)
    peeking_add = "import glob\n\ndef add(a, b):\n    return a + b + len(glob.glob('*.ipynb'))"
    nb, path = _submission(
        course, tmp_path, {"99.1.a": peeking_add, "99.1.b": "def mean(xs):\n    return 0.0"}
    )
    cells = nb.cells
    check_b = next(
        c
        for c in cells
        if c.metadata.get("grade", {}) == {"id": "99.1.b", "role": "check", "points": 3}
    )
    check_b.source = 'print("0.0000")'  # edited check ...
    check_b.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.0000\n")]
    check_a = next(
        c
        for c in cells
        if c.metadata.get("grade", {}).get("role") == "check"
        and c.metadata["grade"]["id"] == "99.1.a"
    )
    cells.remove(check_a)  # ... a deleted check (a is right, so it still earns 2) ...
    cells.append(new_code_cell("print(1)", metadata=_grade("99.1.z", "check", 100)))
    nbformat.write(nb, path)
    (path.parent / "conftest.py").write_text(  # ... and a conftest that passes everything
        "import pytest\n\n"
        "@pytest.hookimpl(wrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    report = yield\n"
        "    report.outcome = 'passed'\n"
        "    return report\n"
    )
    report = grade_notebook(path, course["solution"], tmp_path / "grades", timeout=60)
    assert set(report.parts) == {"99.1.a", "99.1.b"}
    assert (report.total, report.max_total) == (2, 6)
    # feedback: which check, its cell as JupyterLab counts (every cell, from 1), the first
    # line that differs
    b = report.parts["99.1.b"]
    cell_id = course["solution_nb"].cells[7].id
    assert b.message == (
        f"check 1/2 (cell 8, id {cell_id}): output differs from the "
        "expected output: expected '2.3333', got '0.0000'"
    )
    assert (b.expected, b.got, b.cell) == ("2.3333", "0.0000", 8)


def test_infinite_loop_costs_one_part_and_grading_finishes(course, tmp_path):
    loop = "def add(a, b):\n    while True:\n        pass"
    nb, path = _submission(course, tmp_path, {"99.1.a": loop, "99.1.b": MEAN_CORRECT})
    nbformat.write(nb, path)
    report = grade_notebook(path, course["solution"], tmp_path / "grades", timeout=5)
    assert report.parts["99.1.a"].status == "timeout" and report.parts["99.1.a"].score == 0
    assert report.parts["99.1.b"].status == "pass" and report.parts["99.1.b"].score == 4
    assert report.total == 4
    assert len(report.passes) == 2
    assert report.passes[0]["break"]["grade_id"] == "99.1.a"
    assert report.passes[1]["stubbed"] == ["99.1.a"] and report.passes[1]["break"] is None


@pytest.mark.slow
def test_uninterruptible_loop_is_killed_and_costs_one_part(course, tmp_path):
    # ignores the SIGINT nbval sends on timeout: nbval then stops the kernel
    stubborn = (
        "import signal, time\n\ndef add(a, b):\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    while True:\n        time.sleep(0.05)"
    )
    nb, path = _submission(course, tmp_path, {"99.1.a": stubborn, "99.1.b": MEAN_CORRECT})
    nbformat.write(nb, path)
    report = grade_notebook(path, course["solution"], tmp_path / "grades", timeout=5)
    assert {g: (p.score, p.status) for g, p in report.parts.items()} == {
        "99.1.a": (0, "timeout"),
        "99.1.b": (4, "pass"),
    }
    assert report.passes[0]["break"]["kind"] == "timeout or kernel died"


# -- report files, names and solution lookup (no kernel) ----------------------------------


def _fake_report(name: str = "ex") -> GradeReport:
    parts = {
        "1.a": PartResult(score=2, max_score=2, status="pass"),
        "1.b": PartResult(score=0, max_score=3, status="fail", message="check 1/1: failed"),
    }
    return GradeReport(
        name=name,
        submission=f"{name}.ipynb",
        solution="s.ipynb",
        parts=parts,
        merge=MergeReport(found=["1.a", "1.b"]),
        timeout_s=60,
    )


def test_reports_are_numbered_instead_of_overwritten(tmp_path):
    first = write_reports(_fake_report(), tmp_path, junit_text=None)
    second = write_reports(_fake_report(), tmp_path, junit_text=None)
    assert first["json"].endswith("ex.json") and second["json"].endswith("ex.1.json")
    assert (tmp_path / "ex.1.classroom.b64").is_file() and (tmp_path / "ex.1.junit.xml").is_file()
    (tmp_path / "ex.json").write_text("{}")
    again = write_reports(_fake_report(), tmp_path, junit_text=None, overwrite=True)
    assert again["json"].endswith("ex.json")
    data = json.loads((tmp_path / "ex.json").read_text())
    assert (data["total"], data["max_total"]) == (2, 5)
    classroom = json.loads((tmp_path / "ex.classroom.json").read_text())
    assert classroom["status"] == "fail"
    assert classroom["tests"][1] == {
        "name": "1.b",
        "status": "fail",
        "score": 0,
        "max_score": 3,
        "execution_time": "0.00s",
        "message": "check 1/1: failed",
    }


def test_reports_and_class_summary_are_written_atomically(tmp_path, monkeypatch):
    from ldm_teach.grading.runner import write_class_summary
    from ldm_teach.training import checkpoint as ckpt

    write_reports(_fake_report(), tmp_path, junit_text=None)
    summary = write_class_summary([_fake_report()], tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert before["class_summary.csv"].startswith(b"name,submission,solution,1.a,1.b")

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        write_reports(_fake_report(), tmp_path, junit_text=None, overwrite=True)
    with pytest.raises(OSError, match="No space"):
        write_class_summary([_fake_report()], tmp_path, overwrite=True)
    # nothing truncated, no temporary files left
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert summary == tmp_path / "class_summary.csv"


def test_collect_submissions_names_nested_notebooks(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "ex.ipynb").write_text("{}")
    (tmp_path / "bob.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "bob-checkpoint.ipynb").write_text("{}")
    names = [name for _, name in collect_submissions([tmp_path])]
    assert names == ["alice__ex", "bob"]
    with pytest.raises(FileNotFoundError, match="no such file"):
        collect_submissions([tmp_path / "nope.ipynb"])


def test_find_solution_by_metadata_name_and_grade_ids(tmp_path):
    sol = tmp_path / "solutions"
    sol.mkdir()
    for stem, gid in (("ex1", "1.a"), ("ex2", "2.a")):
        nb = new_notebook(cells=[new_code_cell("x", metadata=_grade(gid, "answer"))])
        nbformat.write(nb, sol / f"{stem}.ipynb")
    by_meta = new_notebook()
    by_meta.metadata["ldm_teach"] = {"exercise": "ex2"}
    nbformat.write(by_meta, tmp_path / "whatever.ipynb")
    assert find_solution(tmp_path / "whatever.ipynb", sol).name == "ex2.ipynb"
    nbformat.write(new_notebook(), tmp_path / "ex1.ipynb")
    assert find_solution(tmp_path / "ex1.ipynb", sol).name == "ex1.ipynb"
    by_ids = new_notebook(cells=[new_code_cell("y", metadata=_grade("2.a", "answer"))])
    nbformat.write(by_ids, tmp_path / "renamed.ipynb")
    assert find_solution(tmp_path / "renamed.ipynb", sol).name == "ex2.ipynb"
    nbformat.write(new_notebook(), tmp_path / "unrelated.ipynb")
    with pytest.raises(FileNotFoundError, match="no solution"):
        find_solution(tmp_path / "unrelated.ipynb", sol)


def test_grade_main_rejects_bad_arguments(tmp_path, capsys):
    assert grade_main([str(tmp_path / "missing.ipynb"), "--solutions", str(tmp_path)]) == 2
    assert grade_main([str(tmp_path), "--timeout", "0"]) == 2
    assert "timeout" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["inf", "1e308", "nan", "-1", "3601"])
def test_grade_main_refuses_non_finite_or_absurd_timeouts(tmp_path, capsys, timeout):
    assert grade_main([str(tmp_path), "--timeout", timeout, "--out", str(tmp_path / "g")]) == 2
    assert "--timeout must be a finite number of seconds in (0, 3600]" in capsys.readouterr().err
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        grade_notebook(
            tmp_path / "s.ipynb", tmp_path / "sol.ipynb", tmp_path, timeout=float(timeout)
        )


def test_grade_main_refuses_empty_paths_and_an_out_that_is_a_file(tmp_path, capsys):
    assert grade_main([""]) == 2
    assert "submission must name a file or folder" in capsys.readouterr().err
    assert grade_main([str(tmp_path), "--out", ""]) == 2
    assert "--out must name a file or folder" in capsys.readouterr().err
    assert grade_main([str(tmp_path), "--solutions", "", "--out", str(tmp_path / "g")]) == 2
    assert "--solutions must name" in capsys.readouterr().err
    (tmp_path / "afile").write_text("mine")
    # refused before any grading (the submission does not even exist)
    assert grade_main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "afile")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "mine"
    with pytest.raises(ValueError, match="out_dir must name"):
        write_reports(_fake_report(), "", junit_text=None)
    with pytest.raises(ValueError, match="submission must name"):
        collect_submissions([""])


def test_submissions_of_one_name_get_distinct_report_stems(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ex.ipynb").write_text("{}")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a__ex.ipynb").write_text("{}")  # clashes with a/ex's fallback name
    todo = collect_submissions(
        [
            tmp_path / "a" / "ex.ipynb",
            tmp_path / "b" / "ex.ipynb",
            tmp_path / "a" / "ex.ipynb",
            tmp_path / "c" / "a__ex.ipynb",
        ]
    )
    names = [name for _, name in todo]
    assert names[:2] == ["ex", "b__ex"]
    assert len({n.casefold() for n in names}) == 4


def test_report_stem_is_free_only_if_none_of_its_files_exists(tmp_path):
    (tmp_path / "ex.junit.xml").write_text("my junit")
    (tmp_path / "ex.1.classroom.json").write_text("my classroom")
    files = write_reports(_fake_report(), tmp_path, junit_text=None)
    assert files["json"].endswith("ex.2.json")
    assert (tmp_path / "ex.junit.xml").read_text() == "my junit"
    assert (tmp_path / "ex.1.classroom.json").read_text() == "my classroom"
