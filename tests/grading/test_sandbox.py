"""The sandbox of the student's kernel: which one runs, its command, and reports that say so."""

from __future__ import annotations

import nbformat
import pytest

from ldm_teach.grading import sandbox
from ldm_teach.grading.runner import format_table, grade_notebook
from tests.grading.test_grading_runner import ADD_CORRECT, MEAN_CORRECT, _submission, course  # noqa: F401


def test_bwrap_command_hides_solutions_and_mounts_only_what_python_needs(tmp_path):
    cmd = sandbox.command_prefix("bwrap", str(tmp_path), 2048, 100)
    assert cmd[:3] == ["prlimit", f"--as={2048 * 1024 * 1024}", "--cpu=100"]
    words = " ".join(cmd)
    assert "--unshare-all --die-with-parent" in words and "--tmpfs /tmp" in words
    assert f"--bind {tmp_path} {tmp_path}" in words
    assert "--ro-bind / /" not in words  # not the whole file system
    for hidden in sandbox.hidden_paths():
        assert f"--tmpfs {hidden}" in words
    assert cmd[-1] == "--"


def test_the_sandbox_can_be_forced_and_bad_settings_are_refused(monkeypatch):
    monkeypatch.setenv(sandbox.KIND_ENV, "none")
    assert sandbox.chosen() == "none" and sandbox.describe("none").startswith("NONE")
    monkeypatch.setenv(sandbox.KIND_ENV, "docker")
    with pytest.raises(ValueError, match="LDM_TEACH_SANDBOX must be one of"):
        sandbox.chosen()
    monkeypatch.setenv(sandbox.MEMORY_ENV, "12")
    with pytest.raises(ValueError, match="LDM_TEACH_GRADE_MEMORY_MB must be an integer"):
        sandbox.memory_mb()


@pytest.mark.notebook
def test_grading_without_a_sandbox_says_so_on_the_report(course, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv(sandbox.KIND_ENV, "none")
    nb, path = _submission(course, tmp_path, {"99.1.a": ADD_CORRECT, "99.1.b": MEAN_CORRECT})
    nbformat.write(nb, path)
    report = grade_notebook(path, course["solution"], tmp_path / "grades", timeout=60)
    assert report.total == 6
    assert report.sandbox.startswith("NONE")
    assert "WARNING: sandbox NONE" in format_table(report)
    assert '"sandbox": "NONE' in (tmp_path / "grades" / "student.json").read_text()


@pytest.mark.notebook
@pytest.mark.skipif(sandbox.available() != "bwrap", reason="needs a working bwrap")
def test_student_code_runs_in_the_bwrap_sandbox(course, tmp_path):  # noqa: F811
    # the answer sees its own PID namespace, a private /tmp, no network, no solutions
    solution = str(course["solution"])
    probe = (
        "import os, socket\n"
        "def add(a, b):\n"
        "    ifaces = sorted(name for _, name in socket.if_nameindex())\n"
        f"    ok = (os.getpid() < 10 and not os.path.exists({solution!r})\n"
        "          and ifaces == ['lo'] and len(os.listdir('/tmp')) <= 3)\n"
        "    return a + b if ok else 0\n"
    )
    nb, path = _submission(course, tmp_path, {"99.1.a": probe, "99.1.b": MEAN_CORRECT})
    nbformat.write(nb, path)
    report = grade_notebook(path, course["solution"], tmp_path / "grades", timeout=60)
    assert report.sandbox.startswith("bwrap")
    assert report.parts["99.1.a"].score == 2, report.parts["99.1.a"].message
