"""Handing exercises out: the student's workspace keeps their files; the classroom template."""

from __future__ import annotations

import pytest
import yaml

from ldm_teach.cli import main as cli_main
from ldm_teach.grading.handout import list_exercises, make_classroom, make_workspace
from ldm_teach.grading.selfcheck import PRISTINE_DIR


def test_workspace_copies_the_exercises_and_never_replaces_a_students_file(tmp_path):
    names = list_exercises()
    assert names == ["ex10_1_compression", "ex10_2_autoencoders", "ex10_3_latent_diffusion"]
    mine = tmp_path / "my-exercises"
    mine.mkdir()
    (mine / "ex10_1_compression.ipynb").write_text("my work")
    done = dict((p.name, what) for p, what in make_workspace(mine))
    assert done["ex10_1_compression.ipynb"] == "kept: already there"
    assert (mine / "ex10_1_compression.ipynb").read_text() == "my work"
    assert done["ex10_2_autoencoders.ipynb"] == "copied"
    assert (mine / "ex10_2_autoencoders.ipynb").read_bytes() == (
        PRISTINE_DIR / "ex10_2_autoencoders.ipynb"
    ).read_bytes()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError):
        make_workspace(tmp_path / "afile")
    with pytest.raises(ValueError, match="folder must name"):
        make_workspace("")


def test_classroom_template_holds_the_exercise_and_a_workflow_without_solutions(tmp_path):
    files = make_classroom(tmp_path / "tpl", "ex10_1_compression")
    assert [f.name for f in files] == ["ex10_1_compression.ipynb", "README.md", "classroom.yml"]
    flow = yaml.safe_load(files[2].read_text())
    steps = flow["jobs"]["grade"]["steps"]
    grade = next(s for s in steps if s.get("id") == "ldmteach")
    assert "ldm-teach grade ex10_1_compression.ipynb" in grade["run"]
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter")
    assert reporter["with"]["runners"] == "ldmteach"
    assert "LDMTEACH_RESULTS" in reporter["env"]
    assert "bubblewrap" in steps[3]["run"]
    assert not list((tmp_path / "tpl").rglob("solutions"))
    assert "ldm-teach check" in files[1].read_text()
    with pytest.raises(FileExistsError):
        make_classroom(tmp_path / "tpl", "ex10_1_compression")
    with pytest.raises(ValueError, match="exercise must be one of"):
        make_classroom(tmp_path / "new", "ex99")


def test_workspace_and_classroom_commands(tmp_path, capsys):
    assert cli_main(["workspace", str(tmp_path / "w")]) == 0
    assert "copied" in capsys.readouterr().out
    assert cli_main(["classroom", str(tmp_path / "c"), "--exercise", "nope"]) == 2
    assert "exercise must be one of" in capsys.readouterr().err
