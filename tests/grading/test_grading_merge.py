"""Merging answers into the instructor's copy: what crosses over, matching, flags."""

from __future__ import annotations

import copy

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from ldm_teach.grading import merge_submission
from ldm_teach.grading.generate import build_exercise
from ldm_teach.grading.merge import scan_flags, stub_answers


def _solution():
    def answer(gid, body):
        return new_code_cell(
            f"def f_{gid[-1]}():\n    # BEGIN SOLUTION\n    {body}\n    # END SOLUTION",
            metadata={"grade": {"id": gid, "role": "answer"}},
        )

    def check(gid, text):
        cell = new_code_cell(
            f"print(f_{gid[-1]}())",
            metadata={
                "grade": {"id": gid, "role": "check", "points": 1},
                "tags": ["nbval-check-output"],
            },
        )
        cell.execution_count = 1
        cell.outputs = [new_output("stream", name="stdout", text=text)]
        return cell

    return new_notebook(
        cells=[
            new_code_cell("import math"),
            answer("1.a", "return 1"),
            check("1.a", "1\n"),
            answer("1.b", "return 2"),
            check("1.b", "2\n"),
        ]
    )


@pytest.fixture
def instructor():
    return build_exercise(_solution(), keep_hidden=True)


def _answers(nb):
    return {
        c.metadata["grade"]["id"]: c.source
        for c in nb.cells
        if c.metadata.get("grade", {}).get("role") == "answer"
    }


def test_only_answer_sources_cross_over(instructor):
    sub = copy.deepcopy(instructor)
    sub.cells[1].source = "def f_a():\n    return 1"
    sub.cells[2].source = 'print("1")'  # edited check
    sub.cells[2].outputs[0]["text"] = "anything\n"  # edited expected output
    sub.cells[0].source = "import os"  # edited setup cell
    del sub.cells[4]  # deleted check
    merged, report = merge_submission(instructor, sub)
    assert _answers(merged)["1.a"] == "def f_a():\n    return 1"
    for i in (0, 2, 4):
        assert merged.cells[i] == instructor.cells[i]
    assert report.found == ["1.a"]
    assert report.missing == ["1.b"] and report.unchanged == ["1.b"]  # still the stub
    assert _answers(merged)["1.b"] == _answers(instructor)["1.b"]
    assert "NotImplementedError" in _answers(merged)["1.b"]


def test_answers_are_matched_by_grade_id_then_cell_id(instructor):
    sub = copy.deepcopy(instructor)
    sub.cells.reverse()  # order does not matter
    for cell in sub.cells:
        if (
            cell.metadata.get("grade", {}).get("id") == "1.a"
            and cell.metadata["grade"]["role"] == "answer"
        ):
            cell.source = "def f_a():\n    return 10"
        if cell.id == instructor.cells[3].id:  # 1.b, metadata stripped by an editor
            cell.metadata = {}
            cell.source = "def f_b():\n    return 20"
    merged, report = merge_submission(instructor, sub)
    assert _answers(merged) == {
        "1.a": "def f_a():\n    return 10",
        "1.b": "def f_b():\n    return 20",
    }
    assert report.found == ["1.a", "1.b"] and report.matched_by_cell_id == ["1.b"]
    assert report.missing == []


def test_a_check_cell_relabelled_as_answer_is_not_taken(instructor):
    sub = copy.deepcopy(instructor)
    sub.cells[1].source = "def f_a():\n    return 1"
    fake = sub.cells[2]
    fake.metadata["grade"]["role"] = "answer"  # two "answers" for 1.a now
    fake.source = "print('pass')"
    merged, _ = merge_submission(instructor, sub)
    assert _answers(merged)["1.a"] == "def f_a():\n    return 1"
    assert merged.cells[2] == instructor.cells[2]


def test_missing_answers_keep_the_stub(instructor):
    merged, report = merge_submission(instructor, new_notebook())
    assert merged == instructor
    assert report.missing == ["1.a", "1.b"] and report.found == []


def test_flags_are_reported_not_zeroed(instructor):
    sub = copy.deepcopy(instructor)
    sub.cells[1].source = (
        "import builtins\nclass Any:\n    def __eq__(self, o):\n"
        "        return True\ndef f_a():\n    return Any()"
    )
    sub.cells[3].source = "def f_b():\n    model.eval()\n    return 2"  # a method: no flag
    merged, report = merge_submission(instructor, sub)
    assert report.flags == {"1.a": ["builtins", "__eq__"]}
    assert "import builtins" in _answers(merged)["1.a"]


@pytest.mark.parametrize(
    "source, flag",
    [
        ("import sys\nsys._getframe(1)", "sys._getframe"),
        ("import inspect", "inspect"),
        ("open('x.txt').read()", "open("),
        ("globals()['x'] = 1", "globals("),
        ("setattr(obj, 'a', 1)", "setattr("),
        ("exec('x=1')", "exec("),
        ("eval('1')", "eval("),
        ("__import__('os')", "__import__"),
        ("import os\nos.system('ls')", "os.system"),
        ("import subprocess", "subprocess"),
        ("class A:\n    def __ne__(self, o): ...", "__ne__"),
    ],
)
def test_each_flag_pattern(source, flag):
    assert flag in scan_flags(source)


def test_clean_answer_has_no_flags():
    assert scan_flags("def mean(xs):\n    opened = len(xs)\n    return sum(xs) / opened") == []


def test_stub_answers_restores_stubs_of_named_parts(instructor):
    sub = copy.deepcopy(instructor)
    sub.cells[1].source = "def f_a():\n    while True: pass"
    sub.cells[3].source = "def f_b():\n    return 2"
    merged, _ = merge_submission(instructor, sub)
    rerun = stub_answers(merged, instructor, {"1.a"})
    assert _answers(rerun) == {
        "1.a": _answers(instructor)["1.a"],
        "1.b": "def f_b():\n    return 2",
    }
    assert _answers(merged)["1.a"] == "def f_a():\n    while True: pass"  # not modified


def test_a_notebook_of_another_exercise_is_refused(instructor):
    # found by the third bad-input pass: ex10_1 graded against the 10.2 solution matched
    # 10.2's parts by cell id and reported no missing answer
    from ldm_teach.grading.merge import WrongExerciseError

    other = copy.deepcopy(instructor)
    for cell in other.cells:
        if cell.metadata.get("grade"):
            cell.metadata["grade"]["id"] = "2." + cell.metadata["grade"]["id"][-1]
    with pytest.raises(
        WrongExerciseError,
        match=r"answers parts 2\.a, 2\.b, none of which.*"
        r"\(1\.a, 1\.b\)",
    ):
        merge_submission(instructor, other)
    stripped = copy.deepcopy(instructor)  # metadata stripped by an editor: still matched
    for cell in stripped.cells:
        cell.metadata.pop("grade", None)
    stripped.cells[1].source = "def f_a():\n    return 1"
    _, report = merge_submission(instructor, stripped)
    assert report.found == ["1.a"]


@pytest.mark.parametrize(
    "source, flag",
    [
        ("psnr = importlib.import_module('ldm_teach.metrics').psnr", "importlib"),
        ("psnr = sys.modules['ldm_teach.metrics'].psnr", "sys.modules"),
        ("m = getattr(ldm_teach, 'metrics')", "getattr("),
        ("env = open('/proc/1/environ').read()", "/proc"),
        ("get_ipython().input_transformers_cleanup.append(f)", "IPython internals"),
        ("torch.allclose = lambda *a, **k: True", "patches a library"),
        ("if os.fork() == 0:\n    os.setsid()", "process"),
        ("f.__code__ = g.__code__", "__code__"),
    ],
)
def test_issue_13_reaches_are_flagged(source, flag):
    assert flag in scan_flags(source)


def test_flags_leave_ordinary_answers_alone():
    assert scan_flags("x = torch.allclose(a, b)\nmodel.eval()\nacc = (p == y).mean()") == []


def test_a_forbidden_flag_is_recorded_per_part():
    sol = _solution()
    sol.cells[1].metadata["grade"]["forbid"] = [
        "importlib",
        {"name": "classifier.accuracy", "pattern": r"\.accuracy\b"},
    ]
    inst = build_exercise(sol, keep_hidden=True)
    sub = copy.deepcopy(inst)
    sub.cells[1].source = "import importlib\ndef f_a():\n    return c.accuracy(1)"
    sub.cells[3].source = "import importlib\ndef f_b():\n    return 2"  # b forbids nothing
    _, report = merge_submission(inst, sub)
    assert report.forbidden == {"1.a": ["importlib", "classifier.accuracy"]}
    assert report.flags["1.b"] == ["importlib"]


def test_malformed_forbid_metadata_is_refused():
    sol = _solution()
    sol.cells[1].metadata["grade"]["forbid"] = "importlib"
    with pytest.raises(ValueError, match="'forbid' must be a list of flag names"):
        build_exercise(sol)


def test_a_copied_answer_cell_is_graded_as_the_student_ran_it(instructor):
    # found by the fourth bad-input pass: the old attempt in the original cell was graded
    # (0 points, no flag) and the real answer in the copy below it was ignored
    sub = copy.deepcopy(instructor)
    i = next(
        i
        for i, c in enumerate(sub.cells)
        if c.metadata.get("grade", {}).get("id") == "1.a"
        and c.metadata["grade"]["role"] == "answer"
    )
    sub.cells[i].source = "def f_a():\n    return 0  # old attempt"
    copy_cell = copy.deepcopy(sub.cells[i])
    copy_cell.id = "copied-cell"
    copy_cell.source = "def f_a():\n    return 1"
    sub.cells.insert(i + 1, copy_cell)
    merged, report = merge_submission(instructor, sub)
    assert _answers(merged)["1.a"] == (
        "def f_a():\n    return 0  # old attempt\n\ndef f_a():\n    return 1"
    )
    assert "several answer cells (graded in order)" in report.flags["1.a"]
    assert "1.a" in report.found


def test_report_names_never_share_a_file(tmp_path):
    # found by the fifth bad-input pass: a.classroom's a.classroom.json replaced the
    # GitHub Classroom report of a under --overwrite
    from ldm_teach.grading.batch import collect_submissions
    from ldm_teach.grading.report import REPORT_SUFFIXES

    for stem in ("a", "a.classroom", "b.junit"):
        (tmp_path / f"{stem}.ipynb").write_text("{}")
    (tmp_path / "b.ipynb").write_text("{}")
    names = [name for _, name in collect_submissions([tmp_path])]
    files = [f"{n}{s}".casefold() for n in names for s in REPORT_SUFFIXES]
    assert len(files) == len(set(files)), names


def test_a_float64_answer_is_not_wrong_for_its_dtype_alone():
    # found by the fifth bad-input pass: a correct psnr returning float64 scored 0/3
    from ldm_teach.grading.probes import compare

    exp = {"psnr": {"dtype": "torch.float32", "shape": [2], "values": [20.0, 30.0]}}
    got = {"psnr": {"dtype": "torch.float64", "shape": [2], "values": [20.0, 30.0]}}
    assert compare(exp, got) is None
    got["psnr"]["dtype"] = "torch.int64"
    assert compare(exp, got) == "psnr.dtype"
    got["psnr"].update(dtype="torch.float64", values=[20.0, 31.0])
    assert compare(exp, got) == "psnr.values[1]"
