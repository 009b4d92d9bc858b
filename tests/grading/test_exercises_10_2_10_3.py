"""练习 10.2 and 10.3: the solutions earn full marks, the stubs nothing, and mutants lose
their part's points.

Scoring is all-or-nothing per part, and the parts of each exercise are independent (no
part calls another part's functions), so each grading run carries at most one mutant per
part: run k applies the k-th mutant of every part that has one. A part that then scores 0
has caught its mutant. Each function has at least three plausible wrong versions (off-by-one
timestep, sign error, sum instead of mean, missing square root, wrong axis, ...).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import nbformat
import pytest

from ldm_teach.grading.runner import GradeReport, grade_notebook
from tests.grading.mutation import Mutant, apply_mutants

ROOT = Path(__file__).resolve().parents[2]


EX10_2: dict = {
    "name": "ex10_2_autoencoders.ipynb",
    "points": {"10.2.a": 4, "10.2.b": 3, "10.2.c": 3},
    "ungraded": {"c-outro", "d-prompt", "d-answer"},
    "mutants": [
        ("reparameterize", "10.2.a", "torch.exp(0.5 * logvar) * eps", "torch.exp(logvar) * eps"),
        (
            "reparameterize",
            "10.2.a",
            "return mean + torch.exp(0.5 * logvar) * eps",
            "return mean - torch.exp(0.5 * logvar) * eps",
        ),
        (
            "reparameterize",
            "10.2.a",
            "return mean + torch.exp(0.5 * logvar) * eps",
            "return mean + logvar * eps",
        ),
        (
            "kl_divergence",
            "10.2.a",
            "- 1.0 - logvar).sum(dim=(1, 2, 3))",
            "- 1.0 - logvar).mean(dim=(1, 2, 3))",
        ),
        ("kl_divergence", "10.2.a", "return 0.5 * (mean.pow(2)", "return (mean.pow(2)"),
        ("kl_divergence", "10.2.a", "logvar.exp() - 1.0 - logvar", "logvar.exp() - 1.0 + logvar"),
        ("vector_quantize", "10.2.a", ".argmin(dim=1)", ".argmax(dim=1)"),
        ("vector_quantize", "10.2.a", "z_q = z_e + (e - z_e).detach()", "z_q = e"),
        (
            "vector_quantize",
            "10.2.a",
            "F.mse_loss(e, z_e.detach()) + beta * F.mse_loss(z_e, e.detach())",
            "beta * F.mse_loss(e, z_e.detach()) + F.mse_loss(z_e, e.detach())",
        ),
        ("hinge_d_loss", "10.2.b", "return 0.5 * (F.relu(", "return (F.relu("),
        ("hinge_d_loss", "10.2.b", "F.relu(1.0 + logits_fake)", "F.relu(1.0 - logits_fake)"),
        (
            "hinge_d_loss",
            "10.2.b",
            "F.relu(1.0 - logits_real).mean()",
            "(1.0 - logits_real).mean()",
        ),
        ("hinge_g_loss", "10.2.b", "return -logits_fake.mean()", "return logits_fake.mean()"),
        (
            "hinge_g_loss",
            "10.2.b",
            "return -logits_fake.mean()",
            "return F.relu(1.0 - logits_fake).mean()",
        ),
        ("hinge_g_loss", "10.2.b", "return -logits_fake.mean()", "return -logits_fake.sum()"),
        (
            "adaptive_weight",
            "10.2.b",
            "rec_grad.norm() / (g_grad.norm() + 1e-4)",
            "g_grad.norm() / (rec_grad.norm() + 1e-4)",
        ),
        ("adaptive_weight", "10.2.b", ".clamp(0.0, 1e4).detach()", ".detach()"),
        (
            "adaptive_weight",
            "10.2.b",
            "rec_grad.norm() / (g_grad.norm() + 1e-4)",
            "rec_grad.norm() ** 2 / (g_grad.norm() ** 2 + 1e-4)",
        ),
        (
            "latent_statistics",
            "10.2.c",
            ".div(per_channel.shape[1] - 1)",
            ".div(per_channel.shape[1])",
        ),
        ("latent_statistics", "10.2.c", "/ var0.pow(2) - 3.0", "/ var0.pow(2)"),
        (
            "latent_statistics",
            "10.2.c",
            "z.transpose(0, 1).reshape(z.shape[1], -1)",
            "z.reshape(z.shape[1], -1)",
        ),
        ("kl_weight_study", "10.2.c", "1.0 / std, psnr", "std, psnr"),
        ("kl_weight_study", "10.2.c", '["std"]) / z.shape[1]', '["std"]) / z.shape[0]'),
        (
            "kl_weight_study",
            "10.2.c",
            "psnr(rec, images).mean().item()",
            "psnr(rec, images).median().item()",
        ),
    ],
}

EX10_3: dict = {
    "name": "ex10_3_latent_diffusion.ipynb",
    "points": {"10.3.a": 4, "10.3.b": 3, "10.3.c": 3},
    "ungraded": {"a-outro", "d-prompt", "d-answer"},
    "mutants": [
        (
            "q_sample",
            "10.3.a",
            "a.sqrt() * x0 + (1 - a).sqrt() * noise",
            "a * x0 + (1 - a) * noise",
        ),
        ("q_sample", "10.3.a", "alphas_cumprod[t].to", "alphas_cumprod[t - 1].to"),
        (
            "q_sample",
            "10.3.a",
            "a.sqrt() * x0 + (1 - a).sqrt() * noise",
            "(1 - a).sqrt() * x0 + a.sqrt() * noise",
        ),
        (
            "snr",
            "10.3.a",
            "return alphas_cumprod / (1 - alphas_cumprod)",
            "return (1 - alphas_cumprod) / alphas_cumprod",
        ),
        (
            "snr",
            "10.3.a",
            "return alphas_cumprod / (1 - alphas_cumprod)",
            "return (alphas_cumprod / (1 - alphas_cumprod)).sqrt()",
        ),
        (
            "snr",
            "10.3.a",
            "return alphas_cumprod / (1 - alphas_cumprod)",
            "return (alphas_cumprod / (1 - alphas_cumprod)).log()",
        ),
        (
            "cosine_betas",
            "10.3.a",
            "min(1 - f((i + 1) / T) / f(i / T), max_beta)",
            "1 - f((i + 1) / T) / f(i / T)",
        ),
        ("cosine_betas", "10.3.a", "f((i + 1) / T) / f(i / T)", "f((i + 2) / T) / f((i + 1) / T)"),
        ("cosine_betas", "10.3.a", "math.pi / 2) ** 2", "math.pi / 2)"),
        ("snr_study", "10.3.a", "s <= 1", "s >= 1"),
        (
            "snr_study",
            "10.3.a",
            "math.log(float(s[0])), math.log(float(s[-1]))",
            "math.log10(float(s[0])), math.log10(float(s[-1]))",
        ),
        ("snr_study", "10.3.a", "float(s[-1])", "float(s[-2])"),
        ("ddim_step", "10.3.b", "sigma = eta * ", "sigma = 0.0 * eta * "),
        (
            "ddim_step",
            "10.3.b",
            "if t_prev >= 0 else 1.0",
            "if t_prev >= 0 else float(alphas_cumprod[0])",
        ),
        (
            "ddim_step",
            "10.3.b",
            "math.sqrt(1 - a_prev - sigma**2) * eps",
            "math.sqrt(1 - a_prev) * eps",
        ),
        (
            "ddim_step",
            "10.3.b",
            "(x_t - math.sqrt(1 - a_t) * eps)",
            "(x_t + math.sqrt(1 - a_t) * eps)",
        ),
        (
            "my_ddim_sample",
            "10.3.b",
            "torch.full((len(y),), t, dtype=torch.long)",
            "torch.full((len(y),), t - 1, dtype=torch.long)",
        ),
        (
            "my_ddim_sample",
            "10.3.b",
            "return ldm.decode(x)",
            "return ldm.autoencoder.decode(x).clamp(-1, 1)",
        ),
        (
            "my_ddim_sample",
            "10.3.b",
            "t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1",
            "t_prev = t - 1",
        ),
        (
            "classifier_free_guidance",
            "10.3.c",
            "return eps_uncond + guidance_scale * (eps_cond - eps_uncond)",
            "return eps_cond + guidance_scale * (eps_uncond - eps_cond)",
        ),
        (
            "classifier_free_guidance",
            "10.3.c",
            "return eps_uncond + guidance_scale * (eps_cond - eps_uncond)",
            "return guidance_scale * (eps_cond - eps_uncond)",
        ),
        (
            "classifier_free_guidance",
            "10.3.c",
            "return eps_uncond + guidance_scale * (eps_cond - eps_uncond)",
            "return eps_uncond + guidance_scale * eps_cond",
        ),
        ("cross_attention", "10.3.c", " / math.sqrt(d), dim=-1)", ", dim=-1)"),
        ("cross_attention", "10.3.c", "/ math.sqrt(d), dim=-1)", "/ math.sqrt(d), dim=-2)"),
        ("cross_attention", "10.3.c", "return heads @ w_o.T + b_o", "return heads @ w_o.T"),
        (
            "cross_attention",
            "10.3.c",
            "/ math.sqrt(d), dim=-1)",
            "/ math.sqrt(num_heads * d), dim=-1)",
        ),
        (
            "guidance_study",
            "10.3.c",
            "ldm.unet(z, t, null), ldm.unet(z, t, y)",
            "ldm.unet(z, t, y), ldm.unet(z, t, y)",
        ),
        (
            "guidance_study",
            "10.3.c",
            "ldm.unet(z, t, null), ldm.unet(z, t, y), w)",
            "ldm.unet(z, t, y), ldm.unet(z, t, null), w)",
        ),
        (
            "guidance_study",
            "10.3.c",
            "classifier.accuracy(ldm.decode(z0), y)",
            "classifier.accuracy(ldm.decode(z0)[:10], y[:10])",
        ),
    ],
}
EXERCISES = {"10.2": EX10_2, "10.3": EX10_3}


def _grade(tmp: Path, name: str, submission, solution) -> GradeReport:
    paths = []
    for kind, nb in (("submission", submission), ("solution", solution)):
        if isinstance(nb, Path):
            paths.append(nb)
            continue
        path = tmp / f"{name}.{kind}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return grade_notebook(paths[0], paths[1], tmp / "reports", timeout=180, name=name)


def _mutant_runs(spec: dict) -> list[list[Mutant]]:
    """Run k: the k-th mutant of each part (parts are independent)."""
    by_part: dict[str, list[Mutant]] = {}
    for m in spec["mutants"]:
        by_part.setdefault(m[1], []).append(m)
    return [[m for m in run if m is not None] for run in itertools.zip_longest(*by_part.values())]


def test_every_function_has_three_mutants_thatapply_mutants():
    for spec in EXERCISES.values():
        solution = nbformat.read(ROOT / "solutions" / spec["name"], as_version=4)
        counts: dict[str, int] = {}
        for m in spec["mutants"]:
            counts[m[0]] = counts.get(m[0], 0) + 1
            apply_mutants(solution, [m])  # the text to mutate exists exactly once
        assert min(counts.values()) >= 3, counts
        for run in _mutant_runs(spec):
            assert len({m[1] for m in run}) == len(run)  # at most one mutant per part


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exercises_10_2_10_3")


@pytest.mark.notebook
@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_solution_earns_full_marks(workdir, key):
    spec = EXERCISES[key]
    solution = ROOT / "solutions" / spec["name"]
    report = _grade(workdir, f"solution-{key}", nbformat.read(solution, as_version=4), solution)
    scores = {gid: (p.score, p.max_score, p.status) for gid, p in report.parts.items()}
    for gid, points in spec["points"].items():
        assert scores[gid] == (points, points, "pass"), scores
    assert report.total == report.max_total == sum(spec["points"].values())
    assert report.merge.flags == {}


@pytest.mark.notebook
@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_exercise_stub_earns_nothing(workdir, key):
    spec = EXERCISES[key]
    exercise = nbformat.read(ROOT / "exercises" / spec["name"], as_version=4)
    report = _grade(workdir, f"exercise-{key}", exercise, ROOT / "solutions" / spec["name"])
    assert report.max_total == sum(spec["points"].values())
    assert report.total == 0
    for gid in spec["points"]:
        part = report.parts[gid]
        assert part.status == "fail" and part.score == 0, (gid, part)
        assert "NotImplementedError" in part.message, (gid, part.message)


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_mutants_lose_their_points(workdir, key):
    spec = EXERCISES[key]
    solution = nbformat.read(ROOT / "solutions" / spec["name"], as_version=4)
    solution.cells = [c for c in solution.cells if c.id not in spec["ungraded"]]
    killed: dict[str, list[bool]] = {}
    for k, run in enumerate(_mutant_runs(spec)):
        report = _grade(workdir, f"mutants-{key}-{k}", apply_mutants(solution, run), solution)
        for function, gid, _, _ in run:
            killed.setdefault(function, []).append(report.parts[gid].score == 0)
        for gid in set(spec["points"]) - {m[1] for m in run}:  # unmutated parts keep their points
            assert report.parts[gid].score == spec["points"][gid], (k, gid)
    total = sum(len(v) for v in killed.values())
    caught = sum(sum(v) for v in killed.values())
    print(f"\n练习 {key} mutation score: {caught}/{total} killed")
    for function, oks in killed.items():
        print(f"  {function}: {sum(oks)}/{len(oks)}")
    survivors = [(f, i) for f, oks in killed.items() for i, ok in enumerate(oks) if not ok]
    assert survivors == [], f"mutants not caught: {survivors}"
