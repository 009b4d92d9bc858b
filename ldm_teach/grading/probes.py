"""Hidden checks on secret inputs (probes): seeded by the instructor's secret, expected values
from the solution in a separate run, compared outside the student's kernel.

The public check cells are the student's self-check: their inputs and expected outputs are
in the student's file, so code in the student's kernel can print them (an IPython input
transformer that rewrites each check into a print of its stored output earned full marks
for stubs). Probes close that door, in the manner of otter-grader's hidden tests:

1. A probe cell (``"role": "probe"``, grader only) starts with ``SECRET_SEED = 0`` and
   calls the part's functions on inputs drawn from that seed, printing what they return
   with ``checks.report_values`` (one JSON line, exact types kept).
2. ``seed_probes`` replaces the seed with one derived from the secret (``--secret``, else
   ``LDM_TEACH_GRADE_SECRET``, else a fresh random secret per grading call) and the part's
   id, so neither inputs nor outputs appear in anything the student has.
3. ``expected_probes`` runs the solution's answers with the same seeds in a separate nbval
   run (a fresh kernel, no student code) and keeps each probe's line.
4. The grader compares each probe's line from the student's run with the solution's in the
   grading process (``compare``), never in the kernel: a part earns its points only if its
   public checks pass and every probe matches. Printing the public expected output earns
   nothing any more, and a patched ``torch.allclose`` changes no value a probe reports.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import secrets

from nbformat import NotebookNode

from ldm_teach.grading.cells import cell_source
from ldm_teach.grading.checks import PROBE_MARK
from ldm_teach.grading.markup import grade_meta

SECRET_ENV = "LDM_TEACH_GRADE_SECRET"
SEED_LINE = re.compile(r"^SECRET_SEED = \d+", re.MULTILINE)
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
_CACHE: dict[str, dict[str, dict]] = {}  # reference notebook's hash -> expected records


def resolve_secret(secret: str | None) -> tuple[str, str]:
    """(secret, where it came from: "--secret", the environment variable, or "random").

    Raises:
        ValueError: if ``secret`` is given but empty.
    """
    if secret is not None:
        if not str(secret):
            raise ValueError("secret must be a non-empty string, got ''")
        return str(secret), "--secret"
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV], SECRET_ENV
    return secrets.token_hex(16), "random"


def probe_seed(secret: str, grade_id: str, cell_id: str | None) -> int:
    """The seed of one probe: a 31-bit integer from SHA-256 of secret, part and cell."""
    digest = hashlib.sha256(f"{secret}\0{grade_id}\0{cell_id}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def probe_cells(nb: NotebookNode) -> list[tuple[int, NotebookNode, dict]]:
    """(index, cell, grade metadata) of the probe cells of ``nb``."""
    out = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("grade")
        if isinstance(meta, dict) and meta.get("role") == "probe":
            out.append((index, cell, meta))
    return out


def seed_probes(nb: NotebookNode, secret: str) -> NotebookNode:
    """A copy of the grader's notebook whose probes start from the secret's seeds.

    Raises:
        ValueError: for a probe without a ``SECRET_SEED = <int>`` line.
    """
    out = copy.deepcopy(nb)
    for index, cell, meta in probe_cells(out):
        source = cell_source(cell)
        if not SEED_LINE.search(source):
            raise ValueError(
                f"probe cell {index} ({meta.get('id')}) has no line "
                "'SECRET_SEED = <int>' for the grader's seed"
            )
        seed = probe_seed(secret, meta.get("id", ""), cell.get("id"))
        cell.source = SEED_LINE.sub(f"SECRET_SEED = {seed}", source, count=1)
    return out


def parse_probe(stdout: str | None) -> dict | None:
    """The record a probe printed: the JSON of its one ``PROBE_MARK`` line, else None
    (no line, several lines, or text that is not JSON)."""
    lines = [ln for ln in (stdout or "").splitlines() if ln.startswith(PROBE_MARK)]
    if len(lines) != 1:
        return None
    try:
        record = json.loads(lines[0][len(PROBE_MARK) :])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _dtype_kind(dtype: str) -> str:
    """ "float" for floating-point dtype names (torch.float32, float64, bfloat16, ...), else
    the name itself."""
    name = dtype.rsplit(".", 1)[-1]
    return "float" if name.startswith(("float", "bfloat", "half", "double")) else name


def compare(
    expected, got, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL, path: str = ""
) -> str | None:
    """Where two probe records differ first (a path such as ``psnr.values[2]``), or None.

    Types, shapes, keys, integers, booleans and strings must be equal; floats within
    ``atol + rtol * |expected|`` (NaN matches only NaN). A ``dtype`` may differ between
    two floating-point dtypes (a float64 answer to a prompt that asks for a tensor is
    right): only a float/integer/bool mismatch counts.
    """
    if path.rsplit(".", 1)[-1] == "dtype" and isinstance(expected, str) and isinstance(got, str):
        return None if _dtype_kind(expected) == _dtype_kind(got) else path
    if type(expected) is not type(got):
        return path or "type"
    if isinstance(expected, dict):
        if set(expected) != set(got):
            return f"{path} keys"
        for key in expected:
            where = compare(expected[key], got[key], atol, rtol, f"{path}.{key}".lstrip("."))
            if where:
                return where
        return None
    if isinstance(expected, list):
        if len(expected) != len(got):
            return f"{path} length"
        for k, (e, g) in enumerate(zip(expected, got, strict=True)):
            where = compare(e, g, atol, rtol, f"{path}[{k}]")
            if where:
                return where
        return None
    if isinstance(expected, float):
        if math.isnan(expected) or math.isnan(got):
            return None if math.isnan(expected) and math.isnan(got) else path
        if math.isinf(expected) or math.isinf(got):
            return None if expected == got else path
        return None if abs(got - expected) <= atol + rtol * abs(expected) else path
    return None if expected == got else path


def expected_probes(
    solution_nb: NotebookNode, seeded_nb: NotebookNode, timeout: float
) -> dict[str, dict]:
    """Run the solution's answers through the seeded grader's notebook in a separate
    process and return, per probe cell id, ``{"record": ..., "atol": ..., "rtol": ...}``.

    Check cells are left out of that run (they do not change any probe). Results are
    cached for the life of the process (a class is graded against one reference run).

    Raises:
        GradingError: if a probe fails or prints no record on the solution (a broken probe:
            the instructor's to fix).
    """
    from ldm_teach.grading.merge import merge_submission
    from ldm_teach.grading.nbrun import run_pass
    from ldm_teach.grading.report import GradingError

    reference, _ = merge_submission(seeded_nb, solution_nb)
    reference.cells = [
        c
        for c in reference.cells
        if (c.get("metadata", {}).get("grade") or {}).get("role") != "check"
    ]
    key = hashlib.sha256(json.dumps(reference, sort_keys=True).encode()).hexdigest()
    if key in _CACHE:
        return _CACHE[key]
    data, _, log = run_pass(reference, timeout)
    by_id = {c["cell_id"]: c for c in data["cells"]}
    out = {}
    for _, cell, _ in probe_cells(reference):
        meta = grade_meta(cell)
        rec = by_id.get(cell.get("id"))
        record = parse_probe(rec.get("got") if rec else None)
        if rec is None or rec["outcome"] != "passed" or record is None:
            detail = (rec or {}).get("detail", "")[-800:] or log[-800:]
            raise GradingError(
                f"probe {cell.get('id')} of part {meta.id} fails on the "
                f"solution itself ({(rec or {}).get('outcome')}):\n{detail}"
            )
        raw = cell.metadata["grade"]
        out[cell.get("id")] = {
            "record": record,
            "atol": raw.get("atol", DEFAULT_ATOL),
            "rtol": raw.get("rtol", DEFAULT_RTOL),
        }
    _CACHE[key] = out
    return out
