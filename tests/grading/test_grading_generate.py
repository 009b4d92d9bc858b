"""Exercise generation: stubs, kept ids and outputs, hidden checks, build_all --check."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ldm_teach.grading import build_all, build_exercise, build_exercises_main
from ldm_teach.grading.generate import stub_source

ANSWER = (
    'def add(a, b):\n    """Return a + b."""\n    # BEGIN SOLUTION\n    total = a + b\n'
    '    return total\n    # END SOLUTION\n\nprint("defined")'
)
STUBBED = (
    'def add(a, b):\n    """Return a + b."""\n    # YOUR CODE HERE\n'
    '    raise NotImplementedError("1.a: write your answer here")\n\nprint("defined")'
)


def _check(gid: str, points: float, text: str, hidden: bool = False):
    grade = {"id": gid, "role": "check", "points": points}
    if hidden:
        grade["hidden"] = True
    cell = new_code_cell(
        f"print({text!r})", metadata={"grade": grade, "tags": ["nbval-check-output"]}
    )
    cell.execution_count = 3
    cell.outputs = [new_output("stream", name="stdout", text=text + "\n")]
    return cell


def solution_nb():
    answer = new_code_cell(ANSWER, metadata={"grade": {"id": "1.a", "role": "answer"}})
    answer.execution_count = 2
    answer.outputs = [new_output("stream", name="stdout", text="defined\n")]
    setup = new_code_cell("import math")
    setup.execution_count = 1
    setup.outputs = [new_output("execute_result", data={"text/plain": "42"}, execution_count=1)]
    return new_notebook(
        cells=[
            new_markdown_cell("# Exercise 1", metadata={"grade": {"id": "1.a", "role": "prompt"}}),
            setup,
            answer,
            _check("1.a", 2, "5"),
            _check("1.a", 1, "7", hidden=True),
        ]
    )


def test_exercise_stubs_answers_and_keeps_ids_and_check_outputs():
    sol = solution_nb()
    before = copy.deepcopy(sol)
    ex = build_exercise(sol, source_name="ex1.ipynb")
    assert sol == before  # the solution is not modified
    assert [c.id for c in ex.cells] == [c.id for c in sol.cells[:4]]  # hidden check dropped
    answer = ex.cells[2]
    assert answer.source == STUBBED
    assert answer.outputs == [] and answer.execution_count is None
    # the check keeps its stored output and gains a PASS line; its code is kept between
    # the two generated self-check lines
    assert ex.cells[3].outputs[:-1] == sol.cells[3].outputs
    assert ex.cells[3].outputs[-1]["text"] == "PASS 1.a check 1/1\n"
    lines = ex.cells[3].source.split("\n")
    assert ex.cells[3].execution_count == 3 and "\n".join(lines[2:-1]) == sol.cells[3].source
    assert lines[1] == "_check = begin_check('1.a', 1, 1, expected='5\\n')"
    assert lines[-1] == "_check.finish()"
    assert ex.cells[1].outputs == sol.cells[1].outputs  # other cells keep their outputs
    assert ex.cells[0] == sol.cells[0]
    assert ex.metadata["ldm_teach"]["exercise"] == "ex1"
    nbformat.validate(ex)


def test_grader_copy_keeps_hidden_checks():
    sol = solution_nb()
    full = build_exercise(sol, keep_hidden=True)
    assert [c.id for c in full.cells] == [c.id for c in sol.cells]
    assert full.cells[4].metadata["grade"]["hidden"] is True
    assert full.cells[4].outputs[0]["text"] == "7\n"


def test_stub_keeps_indentation_of_each_span():
    src = (
        "x = 1\n# BEGIN SOLUTION\ny = 2\n# END SOLUTION\nclass A:\n    def f(self):\n"
        "        # BEGIN SOLUTION\n        return 3\n        # END SOLUTION"
    )
    assert stub_source(src, "2.b") == (
        'x = 1\n# YOUR CODE HERE\nraise NotImplementedError("2.b: write your answer here")\n'
        "class A:\n    def f(self):\n        # YOUR CODE HERE\n"
        '        raise NotImplementedError("2.b: write your answer here")'
    )


@pytest.mark.parametrize(
    "source, match",
    [
        ("return 1", "no '# BEGIN SOLUTION'"),
        ("# BEGIN SOLUTION\nx = 1", "without '# END SOLUTION'"),
        ("x = 1\n# END SOLUTION", "without '# BEGIN SOLUTION'"),
        ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "nested"),
    ],
)
def test_malformed_answer_markers_are_refused(source, match):
    with pytest.raises(ValueError, match=match):
        stub_source(source, "1.a")


def test_malformed_solutions_are_refused():
    leaking = solution_nb()
    leaking.cells.append(new_code_cell("# BEGIN SOLUTION\nsecret = 1\n# END SOLUTION"))
    with pytest.raises(ValueError, match="outside an answer cell"):
        build_exercise(leaking)
    unrun = solution_nb()
    unrun.cells[3].execution_count = None
    with pytest.raises(ValueError, match="no stored output"):
        build_exercise(unrun)
    untagged = solution_nb()
    untagged.cells[3].metadata["tags"] = []
    with pytest.raises(ValueError, match="nbval-check-output"):
        build_exercise(untagged)
    no_points = solution_nb()
    del no_points.cells[3].metadata["grade"]["points"]
    with pytest.raises(ValueError, match="points"):
        build_exercise(no_points)
    bad_role = solution_nb()
    bad_role.cells[2].metadata["grade"]["role"] = "solution"
    with pytest.raises(ValueError, match="role"):
        build_exercise(bad_role)


def test_build_all_writes_then_check_detects_stale_exercises(tmp_path, capsys):
    sols, exs = tmp_path / "solutions", tmp_path / "exercises"
    sols.mkdir()
    nbformat.write(solution_nb(), sols / "ex1.ipynb")
    assert build_all(sols, exs) == [exs / "ex1.ipynb"]
    assert build_all(sols, exs, check=True) == []
    assert build_all(sols, exs) == []  # nothing changed, nothing written
    assert build_exercises_main(["--solutions", str(sols), "--exercises", str(exs), "--check"]) == 0

    changed = solution_nb()  # the instructor fixes an expected output ...
    changed.cells[3].outputs[0]["text"] = "6\n"
    nbformat.write(changed, sols / "ex1.ipynb")
    assert build_all(sols, exs, check=True) == [exs / "ex1.ipynb"]  # ... the exercise is stale
    assert build_exercises_main(["--solutions", str(sols), "--exercises", str(exs), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert nbformat.read(exs / "ex1.ipynb", 4).cells[3].outputs[0]["text"] == "5\n"

    nbformat.write(build_exercise(solution_nb(), source_name="gone.ipynb"), exs / "gone.ipynb")
    nbformat.write(new_notebook(), exs / "handmade.ipynb")  # not generated: left alone
    assert build_all(sols, exs, check=True) == [exs / "ex1.ipynb", exs / "gone.ipynb"]
    assert build_exercises_main(["--solutions", str(sols), "--exercises", str(exs)]) == 0
    assert build_all(sols, exs, check=True) == []
    assert not (exs / "gone.ipynb").exists() and (exs / "handmade.ipynb").exists()
    assert nbformat.read(exs / "ex1.ipynb", 4).cells[3].outputs[0]["text"] == "6\n"


def test_build_all_needs_a_solutions_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="solutions_dir"):
        build_all(tmp_path / "nope", tmp_path / "exercises")


def _built(tmp_path):
    sols, exs = tmp_path / "solutions", tmp_path / "exercises"
    sols.mkdir()
    nbformat.write(solution_nb(), sols / "ex1.ipynb")
    assert build_all(sols, exs) == [exs / "ex1.ipynb"]
    return sols, exs


def test_build_all_never_overwrites_or_deletes_what_a_student_edited(tmp_path, capsys):
    sols, exs = _built(tmp_path)
    mine = nbformat.read(exs / "ex1.ipynb", 4)
    nbformat.write(mine, exs / "my_copy.ipynb")  # "Save as": same metadata, another name
    mine.cells[2].source = "def add(a, b):\n    return a + b  # my answer"
    nbformat.write(mine, exs / "ex1.ipynb")
    gone = build_exercise(solution_nb(), source_name="gone.ipynb")
    gone.cells[2].source = "my work on an exercise that was withdrawn"
    nbformat.write(gone, exs / "gone.ipynb")
    changed = solution_nb()  # the instructor then changes the solution
    changed.cells[3].outputs[0]["text"] = "6\n"
    nbformat.write(changed, sols / "ex1.ipynb")
    before = {p.name: p.read_bytes() for p in exs.iterdir()}

    with pytest.raises(ValueError, match="edited since it was generated") as exc:
        build_all(sols, exs)
    assert [p for p, _ in exc.value.conflicts] == [exs / "ex1.ipynb", exs / "gone.ipynb"]
    argv = ["--solutions", str(sols), "--exercises", str(exs)]
    assert build_exercises_main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "ex1.ipynb" in err[0] and "gone.ipynb" in err[1]
    assert all("--force" in line for line in err)
    assert {p.name: p.read_bytes() for p in exs.iterdir()} == before  # nothing written
    assert build_all(sols, exs, check=True) == [exs / "ex1.ipynb", exs / "gone.ipynb"]

    assert build_exercises_main([*argv, "--force"]) == 0
    assert nbformat.read(exs / "ex1.ipynb", 4).cells[2].source == STUBBED
    assert not (exs / "gone.ipynb").exists()
    assert (exs / "my_copy.ipynb").read_bytes() == before["my_copy.ipynb"]  # never touched
    assert build_all(sols, exs, check=True) == []


def test_notebook_not_written_by_the_generator_is_not_overwritten(tmp_path):
    sols, exs = tmp_path / "solutions", tmp_path / "exercises"
    sols.mkdir()
    exs.mkdir()
    nbformat.write(solution_nb(), sols / "ex1.ipynb")
    (exs / "ex1.ipynb").write_text("my own notes, not even a notebook")
    with pytest.raises(ValueError, match="not an exercise written by build-exercises"):
        build_all(sols, exs)
    assert (exs / "ex1.ipynb").read_text() == "my own notes, not even a notebook"
    assert build_all(sols, exs, force=True) == [exs / "ex1.ipynb"]
    assert nbformat.read(exs / "ex1.ipynb", 4).metadata["ldm_teach"]["exercise"] == "ex1"


def test_exercise_generated_before_hashes_counts_as_generated_if_unchanged(tmp_path):
    from ldm_teach.grading.generate import HASH_KEY, notebook_text

    sols, exs = _built(tmp_path)
    legacy = nbformat.read(exs / "ex1.ipynb", 4)
    del legacy.metadata["ldm_teach"][HASH_KEY]  # as the committed exercises were written
    (exs / "ex1.ipynb").write_text(notebook_text(legacy), encoding="utf-8")
    assert build_all(sols, exs, check=True) == []  # up to date but for the record
    assert build_all(sols, exs) == [exs / "ex1.ipynb"]  # rewritten with its hash
    assert HASH_KEY in nbformat.read(exs / "ex1.ipynb", 4).metadata["ldm_teach"]

    legacy.cells[2].source = "an answer"  # an edited exercise from before the hashes
    (exs / "ex1.ipynb").write_text(notebook_text(legacy), encoding="utf-8")
    with pytest.raises(ValueError, match="before hashes were recorded"):
        build_all(sols, exs)
    assert nbformat.read(exs / "ex1.ipynb", 4).cells[2].source == "an answer"


def test_build_all_writes_exercises_atomically(tmp_path, monkeypatch):
    from ldm_teach.training import checkpoint as ckpt

    sols, exs = _built(tmp_path)
    before = (exs / "ex1.ipynb").read_bytes()
    changed = solution_nb()
    changed.cells[3].outputs[0]["text"] = "6\n"
    nbformat.write(changed, sols / "ex1.ipynb")

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        build_all(sols, exs)
    assert (exs / "ex1.ipynb").read_bytes() == before
    assert [p.name for p in exs.iterdir()] == ["ex1.ipynb"]
    (tmp_path / "afile").write_text("")
    with pytest.raises(NotADirectoryError, match="exercises_dir"):
        build_all(sols, tmp_path / "afile")


def test_build_all_refuses_an_empty_solutions_folder_or_empty_names(tmp_path, capsys):
    sols, exs = _built(tmp_path)
    before = (exs / "ex1.ipynb").read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no solution notebook"):
        build_all(empty, exs)
    with pytest.raises(FileNotFoundError, match="holds no solution notebook"):
        build_all(empty, exs, check=True)
    with pytest.raises(ValueError, match="solutions_dir .* must name"):
        build_all("", exs)
    with pytest.raises(ValueError, match="exercises_dir .* must name"):
        build_all(sols, "")
    for argv in (
        ["--solutions", str(empty)],
        ["--solutions", ""],
        ["--solutions", str(sols), "--exercises", ""],
    ):
        assert build_exercises_main(["--exercises", str(exs), *argv]) == 2
        err = capsys.readouterr().err
        assert "must name" in err or "holds no solution notebook" in err
    assert (exs / "ex1.ipynb").read_bytes() == before


def test_build_all_refuses_to_build_into_the_solutions_folder(tmp_path):
    # found by the third bad-input pass: --exercises = --solutions --force wiped the answers
    sols = tmp_path / "solutions"
    sols.mkdir()
    nbformat.write(solution_nb(), sols / "ex1.ipynb")
    before = (sols / "ex1.ipynb").read_bytes()
    (tmp_path / "link").symlink_to(sols)
    for exs in (sols, tmp_path / "link", tmp_path / "solutions" / ".." / "solutions"):
        with pytest.raises(ValueError, match="are the same folder"):
            build_all(sols, exs, force=True)
    assert (sols / "ex1.ipynb").read_bytes() == before
    assert (
        build_exercises_main(["--solutions", str(sols), "--exercises", str(sols), "--force"]) == 2
    )
    assert (sols / "ex1.ipynb").read_bytes() == before


@pytest.mark.parametrize("text", ["[]", '{"cells": 5}', "{\n", '{"nbformat": 99, "cells": []}'])
def test_a_broken_solution_notebook_is_named(tmp_path, text):
    # found by the third bad-input pass: AttributeError/TypeError tracebacks, or messages
    # that did not say which file
    sols = tmp_path / "solutions"
    sols.mkdir()
    nbformat.write(solution_nb(), sols / "ex1.ipynb")
    (sols / "bad.ipynb").write_text(text)
    with pytest.raises(ValueError, match=r"bad\.ipynb"):
        build_all(sols, tmp_path / "exercises")
    assert not (tmp_path / "exercises" / "ex1.ipynb").exists()  # nothing written
