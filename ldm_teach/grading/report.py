"""Grade reports: the per-part and per-submission results, their files and a terminal table."""

from __future__ import annotations

import base64
import json
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ldm_teach.argcheck import check_bool
from ldm_teach.grading.merge import MergeReport

#: the files of one report stem; a stem is free only if none of them exists
REPORT_SUFFIXES = (".json", ".junit.xml", ".classroom.json", ".classroom.b64")


class GradingError(RuntimeError):
    """The grader itself failed (not the student's code), e.g. pytest could not start."""


@dataclass
class PartResult:
    """The score of one part (grade id)."""

    score: float  # points earned: max_score if every check cell passed, else 0
    max_score: float  # sum of the points of the part's check cells
    status: str  # "pass", "fail", "timeout" or "not run"
    message: str = ""  # first failure, one line
    checks_passed: int = 0
    checks: int = 0
    duration_s: float = 0.0  # answer + check cells of the final run
    expected: str = ""  # first failing public check: the line it should print ...
    got: str = ""  # ... and the line it printed
    hint: str = ""  # what to look at
    cell: int | None = None  # that check's cell number as JupyterLab counts (from 1)


@dataclass
class GradeReport:
    """Everything ``grade_notebook`` found out about one submission."""

    name: str
    submission: str
    solution: str
    parts: dict[str, PartResult]
    merge: MergeReport
    timeout_s: float
    passes: list[dict] = field(default_factory=list)  # one entry per nbval run
    duration_s: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # report kind -> path written
    hidden_inputs: dict = field(default_factory=dict)  # probes run, where the secret came from
    sandbox: str = ""  # how the student's kernel was contained ("" = not recorded)

    @property
    def total(self) -> float:
        return sum(p.score for p in self.parts.values())

    @property
    def max_total(self) -> float:
        return sum(p.max_score for p in self.parts.values())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "submission": self.submission,
            "solution": self.solution,
            "total": self.total,
            "max_total": self.max_total,
            "parts": {gid: asdict(p) for gid, p in self.parts.items()},
            "missing_answers": self.merge.missing,
            "unchanged_answers": self.merge.unchanged,
            "found_answers": self.merge.found,
            "flags": self.merge.flags,
            "timeout_s": self.timeout_s,
            "duration_s": round(self.duration_s, 3),
            "passes": self.passes,
            "hidden_inputs": self.hidden_inputs,
            "sandbox": self.sandbox,
        }

    def classroom(self) -> dict:
        """The JSON that GitHub Classroom's autograding reporter reads (base64 encoded)."""
        tests = []
        for gid, part in self.parts.items():
            test = {
                "name": gid,
                "status": "pass" if part.status == "pass" else "fail",
                "score": part.score,
                "max_score": part.max_score,
                "execution_time": f"{part.duration_s:.2f}s",
            }
            if part.status != "pass":
                test["message"] = part.message or part.status
            tests.append(test)
        ok = all(t["status"] == "pass" for t in tests)
        return {
            "version": 1,
            "status": "pass" if ok else "fail",
            "max_score": self.max_total,
            "tests": tests,
        }


def free_stem(out_dir: Path, name: str, overwrite: bool = False) -> str:
    """``name``, or ``name.1``, ``name.2``, ... : the first stem none of whose report files
    (``REPORT_SUFFIXES``: .json, .junit.xml, .classroom.json, .classroom.b64) exists;
    ``name`` itself with ``overwrite``."""

    overwrite = check_bool(overwrite, "overwrite")  # "False" must not mean yes

    def used(stem: str) -> bool:
        return any((out_dir / f"{stem}{suffix}").exists() for suffix in REPORT_SUFFIXES)

    if overwrite or not used(name):
        return name
    k = 1
    while used(f"{name}.{k}"):
        k += 1
    return f"{name}.{k}"


def write_reports(
    report: GradeReport, out_dir: str | Path, junit_text: str | None, overwrite: bool = False
) -> dict[str, str]:
    """Write NAME.json, NAME.junit.xml, NAME.classroom.json and NAME.classroom.b64.

    Existing reports are kept: the files get the first free stem (see ``free_stem``)
    unless ``overwrite``. Each file is written atomically (a temporary file renamed over
    it), so an error or a full disk never leaves a truncated report. Returns (and stores
    in ``report.files``) kind -> path.

    Raises:
        ValueError: if ``out_dir`` is empty.
        OSError: if ``out_dir`` cannot be created or written.
    """
    from ldm_teach.training.checkpoint import atomic_write_text, path_arg

    out_dir = path_arg(out_dir, "out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = free_stem(out_dir, report.name, overwrite)
    classroom = json.dumps(report.classroom())
    files = {
        "json": out_dir / f"{stem}.json",
        "junit": out_dir / f"{stem}.junit.xml",
        "classroom": out_dir / f"{stem}.classroom.json",
        "classroom_b64": out_dir / f"{stem}.classroom.b64",
    }
    report.files = {k: str(v) for k, v in files.items()}
    atomic_write_text(
        files["junit"],
        junit_text
        or '<?xml version="1.0" encoding="utf-8"?>\n'
        '<testsuites><testsuite name="pytest" tests="0"/></testsuites>\n',
    )
    atomic_write_text(files["classroom"], classroom + "\n")
    atomic_write_text(
        files["classroom_b64"], base64.b64encode(classroom.encode("utf-8")).decode("ascii") + "\n"
    )
    data = report.to_dict()
    data["files"] = report.files
    # NAME.json last: the report that points to the others
    atomic_write_text(files["json"], json.dumps(data, indent=2) + "\n")
    return report.files


def feedback_lines(gid: str, part: PartResult) -> list[str]:
    """The first failure of a part, for a terminal: what failed and where, expected vs got,
    and the hint, each on its own indented line."""
    head = part.message.splitlines()[0] if part.message else part.status
    if part.expected or part.got:
        head = head.split(": output differs")[0] + ": output differs from the expected output"
    head = head.split("; hint: ")[0]
    lines = [f"  {gid}: {head[:300]}"]
    if part.expected or part.got:
        lines += [f"      expected: {part.expected[:200]}", f"      got:      {part.got[:200]}"]
    if part.hint:
        lines += textwrap.wrap(
            f"hint: {part.hint}", 88, initial_indent="      ", subsequent_indent="        "
        )
    return lines


def format_table(report: GradeReport) -> str:
    """A terminal table: one row per part (points, checks passed, status, flags), the
    total, and the first failure of each attempted part that failed."""
    rows = [("part", "points", "checks", "status", "flags")]
    notes = []
    for gid, part in report.parts.items():
        flags = ", ".join(report.merge.flags.get(gid, []))
        status = part.status + (" (no answer)" if gid in report.merge.missing else "")
        rows.append(
            (
                gid,
                f"{part.score:g}/{part.max_score:g}",
                f"{part.checks_passed}/{part.checks}",
                status,
                flags,
            )
        )
        if part.status != "pass" and gid not in report.merge.missing and part.message:
            notes.extend(feedback_lines(gid, part))
    rows.append(("total", f"{report.total:g}/{report.max_total:g}", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        f"{report.submission}  (solution: {Path(report.solution).name}, {report.duration_s:.1f} s)"
    ]
    if report.sandbox and not report.sandbox.startswith("bwrap"):
        lines.append(f"  WARNING: sandbox {report.sandbox}")
    for i, row in enumerate(rows):
        cells = (c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  " + "  ".join("-" * w for w in widths))
    if notes:
        lines.append("  first failure per part (details in the JSON report):")
        lines.extend(notes)
    return "\n".join(lines)
