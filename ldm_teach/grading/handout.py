"""Handing exercises out: a student's workspace, and a GitHub Classroom template repository.

Students never work in ``exercises/`` (generated files, rewritten by ``ldm-teach
build-exercises``) but on copies: ``make_workspace`` copies the pristine exercises into a
folder of the student's (``my-exercises/`` by default, git-ignored in the course
repository), and never replaces a file that is already there, so nothing a student saved
is lost. ``make_classroom`` writes what an instructor pushes as a GitHub Classroom
template: the exercises, a student README, and a workflow that grades the submission with
``ldm-teach grade`` against solutions kept in a private repository, and hands the scores
to GitHub Classroom's reporter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ldm_teach.grading.selfcheck import PRISTINE_DIR

WORKFLOW = """\
# Written by `ldm-teach classroom`. Grades {exercise}.ipynb on every push and reports the
# points to GitHub Classroom. The solutions live in a private repository the students
# cannot read: set the repository variable LDM_TEACH_SOLUTIONS_REPO (owner/name) and the
# secrets LDM_TEACH_SOLUTIONS_TOKEN (read access to it) and LDM_TEACH_GRADE_SECRET (seeds
# the hidden checks' inputs; any long random string).
name: Autograding
on: [push, workflow_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/checkout@v4
        with:
          repository: ${{{{ vars.LDM_TEACH_SOLUTIONS_REPO }}}}
          token: ${{{{ secrets.LDM_TEACH_SOLUTIONS_TOKEN }}}}
          path: .instructor
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the sandbox and ldm-teach
        run: |
          sudo apt-get update && sudo apt-get install -y bubblewrap
          # Ubuntu 24.04 restricts unprivileged user namespaces, which bubblewrap needs
          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true
          pip install "torch" --index-url https://download.pytorch.org/whl/cpu
          pip install ./.instructor
          # the solutions leave the student's checkout before any student code runs
          mv .instructor/solutions "$RUNNER_TEMP/solutions" && rm -rf .instructor
      - name: Grade
        id: ldmteach
        env:
          LDM_TEACH_GRADE_SECRET: ${{{{ secrets.LDM_TEACH_GRADE_SECRET }}}}
        run: |
          ldm-teach grade {exercise}.ipynb --solutions "$RUNNER_TEMP/solutions" \\
            --out "$RUNNER_TEMP/grades" || true
          echo "result=$(cat "$RUNNER_TEMP/grades/{exercise}.classroom.b64")" >> "$GITHUB_OUTPUT"
      - uses: classroom-resources/autograding-grading-reporter@v1
        env:
          LDMTEACH_RESULTS: "${{{{ steps.ldmteach.outputs.result }}}}"
        with:
          runners: ldmteach
"""

STUDENT_README = """\
# {exercise}

Your exercise: open `{exercise}.ipynb` in JupyterLab, replace each
`raise NotImplementedError(...)` with your code, run the cell below it (a check cell: it
prints PASS, or FAIL with what was expected and what your code printed), and check all
parts at once with

```bash
ldm-teach check {exercise}.ipynb
```

Commit and push: every push is graded by the workflow in `.github/workflows/`, which also
runs hidden checks on inputs you have not seen, so write the general solution, not one
that prints the expected lines. Your notebook is only read, never changed.
"""


def list_exercises(pristine_dir: Path = PRISTINE_DIR) -> list[str]:
    """Names (file stems) of the pristine exercises shipped with the package."""
    return sorted(p.stem for p in pristine_dir.glob("*.ipynb"))


def make_workspace(folder: str | Path, pristine_dir: Path = PRISTINE_DIR) -> list[tuple[Path, str]]:
    """Copy every pristine exercise into ``folder``; a file already there is kept.

    Args:
        folder: the student's folder; created if missing.
        pristine_dir: where the pristine exercises are (default: the package's).
    Returns:
        (path, "copied" or "kept: already there") per exercise.
    Raises:
        ValueError: if ``folder`` is empty.
        NotADirectoryError: if ``folder`` is a file.
        FileNotFoundError: if there are no pristine exercises.
    """
    from ldm_teach.training.checkpoint import path_arg

    folder = path_arg(folder, "folder")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    names = list_exercises(pristine_dir)
    if not names:
        raise FileNotFoundError(f"{pristine_dir}: no pristine exercises")
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        target = folder / f"{name}.ipynb"
        if target.exists():
            done.append((target, "kept: already there"))
            continue
        shutil.copyfile(pristine_dir / f"{name}.ipynb", target)
        done.append((target, "copied"))
    return done


def make_classroom(
    folder: str | Path, exercise: str, pristine_dir: Path = PRISTINE_DIR
) -> list[Path]:
    """Write a GitHub Classroom template for one exercise into ``folder`` (which must be
    empty or new): the exercise, README.md and .github/workflows/classroom.yml.

    Args:
        folder: the template repository's folder.
        exercise: an exercise name (``list_exercises``), e.g. ``ex10_1_compression``.
    Returns:
        The files written.
    Raises:
        ValueError: for an unknown exercise or an empty ``folder`` name.
        FileExistsError: if ``folder`` exists and is not empty (nothing is overwritten).
    """
    from ldm_teach.training.checkpoint import atomic_write_text, path_arg

    folder = path_arg(folder, "folder")
    names = list_exercises(pristine_dir)
    if exercise not in names:
        raise ValueError(f"exercise must be one of {names}, got {exercise!r}")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not an empty folder; nothing written")
    workflow = folder / ".github" / "workflows" / "classroom.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    notebook = folder / f"{exercise}.ipynb"
    shutil.copyfile(pristine_dir / f"{exercise}.ipynb", notebook)
    atomic_write_text(workflow, WORKFLOW.format(exercise=exercise))
    readme = folder / "README.md"
    atomic_write_text(readme, STUDENT_README.format(exercise=exercise))
    return [notebook, readme, workflow]
