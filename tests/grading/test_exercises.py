"""The committed exercise notebooks: up to date, gradable, and their checks catch mistakes.

For ``ex10_1_compression``:

1. ``exercises/`` is what ``ldm-teach build-exercises`` would write from ``solutions/``;
2. the solution earns full marks from ``grade_notebook``;
3. the generated exercise (every answer a stub) earns 0 points, and the grader itself runs;
4. mutation testing: for each graded function, wrong but plausible implementations (made by
   editing the answer cell of a copy of the solution) each lose their part's points.

Each grading run starts a kernel, so mutants are batched. Parts are scored independently,
but 10.1.b calls the functions of 10.1.a, so mutants of a are never batched with mutants
of b. Part a has one check cell per function (psnr, latent_bits, bits_per_pixel) and a probe
(hidden, on secret inputs), so a run that breaks all three functions must fail all four
(``checks_passed == 0``): each mutant is then caught by its own function's check. Mutant
runs grade against a trimmed copy of the solution without its ungraded cells (chart,
timing, worked theory answer), which do not change any score.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from ldm_teach.grading.generate import build_all
from ldm_teach.grading.runner import GradeReport, grade_notebook
from tests.grading.mutation import Mutant, apply_mutants

ROOT = Path(__file__).resolve().parents[2]
NAME = "ex10_1_compression.ipynb"
SOLUTION = ROOT / "solutions" / NAME
EXERCISE = ROOT / "exercises" / NAME
POINTS = {"10.1.a": 3, "10.1.b": 3, "10.1.c": 2, "10.1.d": 2}
UNGRADED_CELLS = {"a-use", "b-ae", "d-time", "e-answer"}  # cell ids dropped in mutant runs

PSNR_MUTANTS: list[Mutant] = [
    ("psnr: ln instead of log10", "10.1.a", "torch.log10(", "torch.log("),
    ("psnr: data_range not squared", "10.1.a", "data_range**2 / mse", "data_range / mse"),
    (
        "psnr: sum instead of mean",
        "10.1.a",
        ".pow(2).mean(dim=(1, 2, 3))",
        ".pow(2).sum(dim=(1, 2, 3))",
    ),
]
LATENT_BITS_MUTANTS: list[Mutant] = [
    (
        "latent_bits: sum of the shape",
        "10.1.a",
        "math.prod(latent_shape) * bits_per_element",
        "sum(latent_shape) * bits_per_element",
    ),
    (
        "latent_bits: bytes, not bits",
        "10.1.a",
        "math.prod(latent_shape) * bits_per_element",
        "math.prod(latent_shape) * bits_per_element // 8",
    ),
    (
        "latent_bits: channels left out",
        "10.1.a",
        "math.prod(latent_shape) * bits_per_element",
        "math.prod(latent_shape[1:]) * bits_per_element",
    ),
]
BPP_MUTANTS: list[Mutant] = [
    (
        "bits_per_pixel: divided by channels",
        "10.1.a",
        "num_bits / (height * width)",
        "num_bits / (3 * height * width)",
    ),
    (
        "bits_per_pixel: bytes per pixel",
        "10.1.a",
        "num_bits / (height * width)",
        "num_bits / 8 / (height * width)",
    ),
    (
        "bits_per_pixel: integer division",
        "10.1.a",
        "num_bits / (height * width)",
        "num_bits // (height * width)",
    ),
]
RATE_DISTORTION_MUTANTS: list[Mutant] = [
    (
        "rate_distortion: channels left out of the rate",
        "10.1.b",
        "latent_bits(tuple(code.shape[1:])",
        "latent_bits(tuple(code.shape[2:])",
    ),
    (
        "rate_distortion: rate of the reconstruction",
        "10.1.b",
        "latent_bits(tuple(code.shape[1:])",
        "latent_bits(tuple(recon.shape[1:])",
    ),
    (
        "rate_distortion: median PSNR",
        "10.1.b",
        "psnr(recon, images).mean().item()",
        "psnr(recon, images).median().item()",
    ),
]
ACCURACY_MUTANTS: list[Mutant] = [
    (
        "classifier_accuracy: count, not fraction",
        "10.1.c",
        ".double().mean().item()",
        ".sum().item()",
    ),
    (
        "classifier_accuracy: error rate",
        "10.1.c",
        "return (predicted == labels)",
        "return 1 - (predicted == labels)",
    ),
    (
        "classifier_accuracy: percent",
        "10.1.c",
        "return (predicted == labels)",
        "return 100 * (predicted == labels)",
    ),
]
RETURN = "return pixel_flops, latent_flops, "
FLOP_MUTANTS: list[Mutant] = [
    (
        "flop_ratio: ratio inverted",
        "10.1.d",
        RETURN + "pixel_flops / latent_flops",
        RETURN + "latent_flops / pixel_flops",
    ),
    (
        "flop_ratio: integer ratio",
        "10.1.d",
        RETURN + "pixel_flops / latent_flops",
        RETURN + "pixel_flops // latent_flops",
    ),
    (
        "flop_ratio: pixel step counted twice",
        "10.1.d",
        "count_flops(latent_fn, backward=False)",
        "count_flops(pixel_fn, backward=False)",
    ),
]
# runs of mutants that do not interact: one mutant per function of a, plus one of c and d;
# then each mutant of b alone
A_RUNS = [
    list(ms)
    for ms in zip(
        PSNR_MUTANTS, LATENT_BITS_MUTANTS, BPP_MUTANTS, ACCURACY_MUTANTS, FLOP_MUTANTS, strict=True
    )
]
B_RUNS = [[m] for m in RATE_DISTORTION_MUTANTS]
ALL_MUTANTS = [m for run in A_RUNS + B_RUNS for m in run]


def _trimmed(keep_parts: set[str]) -> nbformat.NotebookNode:
    """The solution without its ungraded cells and without the cells of other parts."""
    nb = nbformat.read(SOLUTION, as_version=4)
    prefixes = tuple(f"{gid[-1]}-" for gid in keep_parts)
    nb.cells = [
        c
        for c in nb.cells
        if c.id not in UNGRADED_CELLS and (c.id in ("title", "setup") or c.id.startswith(prefixes))
    ]
    return nb


def _grade(
    tmp: Path, name: str, submission: nbformat.NotebookNode, solution: nbformat.NotebookNode | Path
) -> GradeReport:
    if not isinstance(solution, Path):
        path = tmp / f"{name}.solution.ipynb"
        nbformat.write(solution, path)
        solution = path
    sub_path = tmp / f"{name}.ipynb"
    nbformat.write(submission, sub_path)
    return grade_notebook(sub_path, solution, tmp / "reports", timeout=120, name=name)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exercises")


def test_exercises_are_up_to_date():
    stale = build_all(ROOT / "solutions", ROOT / "exercises", check=True)
    assert stale == [], f"run `ldm-teach build-exercises`; out of date: {stale}"
    assert EXERCISE.is_file()


@pytest.mark.notebook
def test_solution_earns_full_marks(workdir):
    report = _grade(workdir, "solution", nbformat.read(SOLUTION, as_version=4), SOLUTION)
    scores = {gid: (p.score, p.max_score, p.status) for gid, p in report.parts.items()}
    for gid, points in POINTS.items():
        assert scores[gid] == (points, points, "pass"), scores
    assert report.total == report.max_total == sum(POINTS.values())
    assert report.merge.flags == {}


@pytest.mark.notebook
def test_exercise_stub_earns_nothing(workdir):
    report = _grade(workdir, "exercise", nbformat.read(EXERCISE, as_version=4), SOLUTION)
    assert report.max_total == sum(POINTS.values())
    assert report.total == 0
    for gid in POINTS:
        part = report.parts[gid]
        assert part.status == "fail" and part.score == 0, (gid, part)
        assert "NotImplementedError" in part.message, (gid, part.message)
    assert set(POINTS) <= set(report.merge.missing)


@pytest.mark.notebook
@pytest.mark.slow
def test_mutants_lose_their_points(workdir):
    killed: dict[str, bool] = {}
    for k, run in enumerate(A_RUNS):
        report = _grade(
            workdir,
            f"mutants-a{k}",
            apply_mutants(_trimmed(set(POINTS)), run),
            _trimmed(set(POINTS)),
        )
        a, c, d = (report.parts[g] for g in ("10.1.a", "10.1.c", "10.1.d"))
        # a: one check cell per function and a probe of all three (hidden, secret inputs);
        # three functions broken -> every check must fail
        for name, gid, _, _ in run:
            if gid == "10.1.a":
                killed[name] = a.score == 0 and a.checks_passed == 0 and a.checks == 4
            else:
                killed[name] = {"10.1.c": c, "10.1.d": d}[gid].score == 0
    for k, run in enumerate(B_RUNS):
        parts = {"10.1.a", "10.1.b"}
        report = _grade(
            workdir, f"mutants-b{k}", apply_mutants(_trimmed(parts), run), _trimmed(parts)
        )
        assert report.parts["10.1.a"].score == POINTS["10.1.a"]  # the mutant stays in b
        killed[run[0][0]] = report.parts["10.1.b"].score == 0
    per_function = {}
    for name, ok in killed.items():
        function = name.split(":")[0]
        per_function.setdefault(function, []).append(ok)
    print(f"\nmutation score: {sum(killed.values())}/{len(killed)} killed")
    for function, oks in per_function.items():
        print(f"  {function}: {sum(oks)}/{len(oks)}")
    assert len(killed) == len(ALL_MUTANTS) == 18
    assert all(len(oks) >= 3 for oks in per_function.values())
    survivors = [name for name, ok in killed.items() if not ok]
    assert survivors == [], f"mutants not caught: {survivors}"
