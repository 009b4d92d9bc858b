"""pytest plugin that turns an nbval run of a merged exercise notebook into scores.

Loaded by the grader (``-p ldm_teach.grading.pytest_plugin``) next to nbval 0.11, whose
items are notebook code cells: ``item.cell`` is the cell (with its metadata) and
``item.cell_num`` its index among the code cells. For every cell the plugin records the
outcome; a part (grade id) earns the points of its check cells only if all of them pass.

Inactive unless ``LDM_TEACH_GRADE_RESULTS`` names the JSON file to write. That variable and
``LDM_TEACH_GRADE_TOKEN`` (a secret echoed into the file, so the grader can tell its own
file from one written by student code) are removed from the environment at start-up,
before nbval starts the kernel. With ``LDM_TEACH_GRADE_HIDE_NOTEBOOK=1`` the notebook file
is deleted once collected, so the student's code cannot read the expected outputs of
hidden checks from disk.

Kernel breaks. When a cell times out, nbval interrupts the kernel (or stops it if the
interrupt fails, also when the kernel dies) and marks every later cell xfail. The plugin
records the cell where this happened as the *break*, counts it as failed, and stops the
session there: the grader then reruns the notebook with the guilty answer stubbed, so one
infinite loop costs one part only (see ``runner.py`` and ``grade.py``).

The results file is rewritten after every cell (atomically), so even a killed run leaves
the cell it was running (``"running"``) and the cells before it.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

RESULTS_ENV = "LDM_TEACH_GRADE_RESULTS"
TOKEN_ENV = "LDM_TEACH_GRADE_TOKEN"
HIDE_ENV = "LDM_TEACH_GRADE_HIDE_NOTEBOOK"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DETAIL_CHARS = 4000  # keep failure details short in the report


def _stdout(outputs) -> str:
    """The stdout text of a list of cell outputs (nbformat dicts), joined."""
    return "".join(
        o.get("text", "")
        for o in outputs
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def _grade(cell) -> dict | None:
    meta = cell.get("metadata", {}).get("grade")
    return meta if isinstance(meta, dict) else None


class GradeRecorder:
    """Collects per-cell outcomes and writes the results file."""

    def __init__(self, path: str, token: str, hide_notebook: bool) -> None:
        self.path = path
        self.token = token
        self.hide_notebook = hide_notebook
        self.cells: dict[str, dict] = {}  # nodeid -> record, in collection order
        self.running: int | None = None
        self.break_: dict | None = None
        self.complete = False
        self.started = time.time()
        self._write()

    # -- collection ---------------------------------------------------------------
    @pytest.hookimpl
    def pytest_collectstart(self, collector) -> None:
        # stderr carries hints, warnings and progress bars: never compared
        if hasattr(collector, "skip_compare"):
            collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)

    @pytest.hookimpl
    def pytest_collection_finish(self, session) -> None:
        for item in session.items:
            cell = getattr(item, "cell", None)
            if cell is None:
                continue
            grade = _grade(cell) or {}
            self.cells[item.nodeid] = {
                "cell_num": item.cell_num,
                "cell_id": cell.get("id"),
                "grade_id": grade.get("id"),
                "role": grade.get("role"),
                "points": grade.get("points", 0) if grade.get("role") == "check" else 0,
                "hidden": bool(grade.get("hidden", False)),
                "outcome": "not run",
                "message": "",
                "detail": "",
                "got": None,  # check cells: stdout of this run, and the stored one
                "expected": None,
                "duration_s": 0.0,
            }
        if self.hide_notebook:
            for path in {str(item.path) for item in session.items if hasattr(item, "cell")}:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self._write()

    # -- running ------------------------------------------------------------------
    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid, location) -> None:
        if nodeid in self.cells:
            self.running = self.cells[nodeid]["cell_num"]
            self._write()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        parent = getattr(item, "parent", None)
        before = bool(getattr(parent, "timed_out", False))
        try:
            return (yield)
        finally:
            after = bool(getattr(parent, "timed_out", False))
            if not before and after and item.nodeid in self.cells:
                kernel = getattr(parent, "kernel", None)
                alive = bool(kernel is not None and kernel.is_alive())
                self.break_ = {
                    "cell_num": self.cells[item.nodeid]["cell_num"],
                    "grade_id": self.cells[item.nodeid]["grade_id"],
                    "role": self.cells[item.nodeid]["role"],
                    "kind": "timeout" if alive else "timeout or kernel died",
                }
                item.session.shouldstop = (
                    f"cell {self.break_['cell_num']} broke the kernel run; the grader reruns "
                    "without the guilty answer"
                )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        record = self.cells.get(item.nodeid)
        if record is None:
            return report
        if call.when == "call" or (call.when == "setup" and not report.passed):
            if report.passed:
                outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"
            elif report.failed:
                outcome = "failed" if call.when == "call" else "error"
            else:
                outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            if self.break_ is not None and self.break_["cell_num"] == record["cell_num"]:
                outcome = "timeout"
            record["outcome"] = outcome
            record["duration_s"] = round(call.duration, 4)
            if record["role"] in ("check", "probe") and call.when == "call":
                # what the cell printed and what it should have printed, for the feedback
                record["got"] = _stdout(getattr(item, "test_outputs", None) or [])
                record["expected"] = _stdout(item.cell.get("outputs", []))
            if call.excinfo is not None:
                exc = call.excinfo.value
                record["message"] = _ANSI.sub("", str(exc)).strip()[:500]
                inner = getattr(exc, "inner_traceback", None) or ""
                record["detail"] = _ANSI.sub("", str(inner)).strip()[-_DETAIL_CHARS:]
            self.running = None
            self._write()
        return report

    @pytest.hookimpl
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        self.complete = True
        self.running = None
        self._write()

    # -- scoring ------------------------------------------------------------------
    def parts(self) -> dict[str, dict]:
        """Per grade id: points earned, maximum, and how many checks passed."""
        parts: dict[str, dict] = {}
        for rec in self.cells.values():
            if rec["role"] != "check" or rec["grade_id"] is None:
                continue
            part = parts.setdefault(
                rec["grade_id"], {"score": 0, "max_score": 0, "checks_passed": 0, "checks": 0}
            )
            part["max_score"] += rec["points"]
            part["checks"] += 1
            part["checks_passed"] += rec["outcome"] == "passed"
        for part in parts.values():
            part["score"] = part["max_score"] if part["checks_passed"] == part["checks"] else 0
        return parts

    def _write(self) -> None:
        data = {
            "token": self.token,
            "complete": self.complete,
            "running": self.running,
            "break": self.break_,
            "cells": list(self.cells.values()),
            "parts": self.parts(),
            "duration_s": round(time.time() - self.started, 3),
        }
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.path)


def pytest_configure(config) -> None:
    spec = os.environ.pop("LDM_TEACH_GRADE_SANDBOX", None)
    if spec:  # before nbval starts a kernel: it starts inside the sandbox
        from ldm_teach.grading.sandbox import install

        install(json.loads(spec))
    path = os.environ.pop(RESULTS_ENV, None)
    token = os.environ.pop(TOKEN_ENV, "")
    hide = os.environ.pop(HIDE_ENV, "") == "1"
    if path:
        config.pluginmanager.register(GradeRecorder(path, token, hide), "ldm_teach_grade_recorder")
