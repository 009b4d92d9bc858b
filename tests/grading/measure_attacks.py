"""Print the points each attack of issue 13 earns: ``python -m tests.grading.measure_attacks``.

Not a test (no assertions, a few minutes of kernels): the before/after table of the issue's
closing note. Each line is one JSON object: attack, what was measured, result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.grading import attacks

CLI = [sys.executable, "-m", "ldm_teach.cli"]


def _grade(nb, tmp: Path, name: str, *extra: str) -> tuple[dict | None, str]:
    path = tmp / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    out = tmp / f"grades-{name}"
    proc = subprocess.run(
        [
            *CLI,
            "grade",
            str(path),
            "--solutions",
            str(attacks.ROOT / "solutions"),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    reports = sorted(p for p in out.glob("*.json") if not p.name.endswith("classroom.json"))
    data = json.loads(reports[0].read_text()) if reports else None
    return data, proc.stdout + proc.stderr


def _points(data: dict | None) -> str:
    if data is None:
        return "no report"
    parts = ", ".join(f"{g} {p['score']:g}" for g, p in data["parts"].items())
    return f"{data['total']:g}/{data['max_total']:g} ({parts}; flags {data.get('flags')})"


def show(attack: str, measured: str, result) -> None:
    print(json.dumps({"attack": attack, "measured": measured, "result": result}), flush=True)


def main(only: set[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="attacks-"))
    if not only or "selfcheck" in only:
        _selfcheck(tmp)
    if not only or "grade" in only:
        _graded(tmp)
    if not only or "class" in only:
        _class(tmp)


def _selfcheck(tmp: Path) -> None:
    # 1. the self-check lies: run a wrong answer, save, compare with its own outputs
    student = attacks.exercise()
    wrong = attacks.wrong_psnr()
    for cell in student.cells:
        g = cell.metadata.get("grade", {})
        if g.get("role") == "answer":
            cell.source = attacks.answer_cell(wrong, g["id"]).source
    NotebookClient(
        student, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp)}}
    ).execute()
    saved = tmp / "selfcheck" / attacks.EX10_1
    saved.parent.mkdir()
    nbformat.write(student, saved)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(saved),
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
    )
    show(
        "lying self-check",
        "pytest --nbval-lax on the saved wrong answer",
        proc.stdout.strip().splitlines()[-1],
    )
    check = subprocess.run([*CLI, "check", str(saved)], capture_output=True, text=True)
    show(
        "lying self-check",
        "ldm-teach check on the same file",
        f"exit {check.returncode}: "
        + " | ".join(check.stdout.strip().splitlines()[-8:])
        + check.stderr.strip()[-300:],
    )
    data, _ = _grade(student, tmp, "selfcheck-graded")
    show("lying self-check", "ldm-teach grade on the same file", _points(data))


def _graded(tmp: Path) -> None:
    # 2. one mistake, two parts; feedback
    data, _ = _grade(attacks.wrong_psnr(), tmp, "wrong-psnr")
    show("wrong psnr costs 10.1.b too", "ldm-teach grade", _points(data))
    show("feedback", "message of 10.1.a", data["parts"]["10.1.a"]["message"] if data else None)
    # 3. stub answers + input transformer
    data, _ = _grade(attacks.transformer_stub(), tmp, "transformer")
    show("input transformer prints public outputs", "ldm-teach grade", _points(data))
    # 4. reading solutions/ through the package path
    data, _ = _grade(attacks.read_solutions(), tmp, "steal")
    show("answers read solutions/", "ldm-teach grade", _points(data))
    # 5. the package's own implementation
    for how in ("importlib", "sys.modules"):
        data, _ = _grade(attacks.reference_import(how), tmp, f"ref-{how.replace('.', '-')}")
        show(f"reference psnr via {how}", "ldm-teach grade", _points(data))
    # 6. the grader's environment through /proc
    marker = Path(tempfile.gettempdir()) / f"attack-proc-{time.time_ns()}.txt"
    data, _ = _grade(attacks.proc_environ(marker), tmp, "proc")
    found = marker.read_text() if marker.exists() else "(marker not written)"
    show("read grader env via /proc", "what the answer found", found[:300] or "(nothing)")
    # 7. a process that outlives grading rewrites the report
    data, _ = _grade(attacks.fork_rewrite(), tmp, "fork")
    show("forked process", "report right after grading", _points(data))
    time.sleep(10)
    report = tmp / "grades-fork" / "fork.json"
    later = json.loads(report.read_text()) if report.exists() else None
    show("forked process", "report 10 s later", _points(later))
    # 8. torch.allclose patched (10.2)
    data, _ = _grade(attacks.allclose_patch(), tmp, "allclose")
    show("torch.allclose patched, wrong vector_quantize", "ldm-teach grade", _points(data))
    data, _ = _grade(attacks.honest_wrong_vq(), tmp, "honest-vq")
    show("same wrong vector_quantize, no patch", "ldm-teach grade", _points(data))


def _class(tmp: Path) -> None:
    # 9. class folder: a truncated notebook; same-name submissions under --overwrite
    klass = tmp / "class"
    for who in ("a", "b"):
        (klass / who).mkdir(parents=True)
        nbformat.write(attacks.solution(), klass / who / attacks.EX10_1)
    (klass / "c").mkdir()
    (klass / "c" / "alice_final.ipynb").write_text(
        (attacks.ROOT / "exercises" / attacks.EX10_1).read_text()[:500]
    )
    out = tmp / "grades-class"
    proc = subprocess.run(
        [
            *CLI,
            "grade",
            str(klass),
            "--solutions",
            str(attacks.ROOT / "solutions"),
            "--out",
            str(out),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
    )
    show(
        "truncated notebook in a class folder",
        "exit status, reports, last lines",
        f"exit {proc.returncode}; reports {sorted(p.name for p in out.glob('*.json'))}; "
        + " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:]),
    )
    for timeout in ("1e7", "inf"):
        proc = subprocess.run(
            [
                *CLI,
                "grade",
                str(klass / "a" / attacks.EX10_1),
                "--solutions",
                str(attacks.ROOT / "solutions"),
                "--out",
                str(tmp / "g-t"),
                "--timeout",
                timeout,
            ],
            capture_output=True,
            text=True,
        )
        show(
            f"--timeout {timeout}",
            "exit status and message",
            f"exit {proc.returncode}: {proc.stderr.strip()[-200:]}",
        )


if __name__ == "__main__":
    main(set(sys.argv[1:]))  # selfcheck, grade, class (default: all)
