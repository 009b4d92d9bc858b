"""Inference optimisations of text-to-image, measured side by side (course Sec. 10.4.4).

:func:`measure_inference` samples one fixed, seeded set of captions from the same starting
noise under every :class:`InferenceSetting` and reports, against the first setting (the
plain baseline: 50 DDIM steps, guidance in two UNet calls, explicit attention, float32):

- the wall-clock speed-up, total baseline seconds / total seconds of the setting. The
  captions are split into ``repeats`` rounds and every round runs all settings in turn,
  so that a change of the machine's load falls on all of them alike; the spread of the
  per-round ratios is returned too;
- caption accuracy (the judge reads all four attributes,
  :mod:`ldm_teach.metrics.caption_judge`), its change in points, and the standard error
  of that change from the paired samples (same caption, same noise): with d_i in
  {-1, 0, 1} the per-image difference, SE = std(d) / sqrt(n). Settings that change no
  judgement have SE 0; the binomial SE of one accuracy, sqrt(p (1 - p) / n), is what an
  unpaired comparison would face;
- max |Δ| of the images (in [-1, 1]) against the baseline's images of the same noise.

Timings move with the machine and its load: compare only rows of one run. ``benchmarks/
inference.py`` and notebook 10.4 call this function.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ldm_teach.argcheck import check_bool, check_int
from ldm_teach.data.shapes import all_attributes, caption_for
from ldm_teach.metrics.caption_judge import CaptionJudge, attribute_targets
from ldm_teach.metrics.text_to_image import EVAL_SEED
from ldm_teach.pipelines.fast_inference import fast_inference

__all__ = ["DEFAULT_SETTINGS", "InferenceSetting", "QUOTED_GPU_SPEEDUPS", "measure_inference"]


@dataclass(frozen=True)
class InferenceSetting:
    """One way of sampling: DDIM steps, guidance batching and the switches of
    :func:`~ldm_teach.pipelines.fast_inference.fast_inference` (``fast``)."""

    name: str  # the row's label
    num_inference_steps: int = 50  # DDIM steps
    batch_guidance: bool = False  # guidance's two branches in one call of 2B
    fast: dict = field(default_factory=dict)  # keyword arguments of fast_inference


#: The settings of Sec. 10.4.4, the plain baseline first; the last one combines those that
#: help on a CPU (bf16, channels_last and torch.compile do not help this small UNet there).
DEFAULT_SETTINGS = (
    InferenceSetting("baseline: 50 steps, 2 calls, explicit, fp32"),
    InferenceSetting("1. DDIM 25 steps", 25),
    InferenceSetting("1. DDIM 10 steps", 10),
    InferenceSetting("2. guidance in one batch of 2B", batch_guidance=True),
    InferenceSetting("3. context K, V cached", fast={"cache_context": True}),
    InferenceSetting("4. SDPA attention", fast={"attention": "sdpa"}),
    InferenceSetting("5. channels_last", fast={"channels_last": True}),
    InferenceSetting("6. bf16 autocast", fast={"bf16": True}),
    InferenceSetting("7. torch.compile (steady state)", fast={"compile": True}),
    InferenceSetting("8. DeepCache k=2", fast={"deep_cache_interval": 2}),
    InferenceSetting("8. DeepCache k=3", fast={"deep_cache_interval": 3}),
    InferenceSetting(
        "9. best: 25 steps + 2B + K,V cache + SDPA + DeepCache k=2",
        25,
        True,
        {"cache_context": True, "attention": "sdpa", "deep_cache_interval": 2},
    ),
)

#: GPU figures from the literature (quoted, not measured here), by setting number.
QUOTED_GPU_SPEEDUPS = {
    "1": "DDIM: 10x to 50x faster wall clock than 1000-step DDPM (quoted, Song et al. 2020, "
    "arXiv:2010.02502, abstract)",
    "4": "FlashAttention: 3x end-to-end training speed-up of GPT-2 at sequence length 1K "
    "(quoted, Dao et al. 2022, arXiv:2205.14135, abstract)",
    "8": "DeepCache: 2.3x on Stable Diffusion v1.5 at -0.05 CLIP score (quoted, Ma et al. "
    "2023, arXiv:2312.00858, abstract)",
}


@torch.no_grad()
def measure_inference(
    model,
    judge: CaptionJudge,
    *,
    captions: int = 64,
    repeats: int = 2,
    settings: tuple[InferenceSetting, ...] = DEFAULT_SETTINGS,
    guidance_scale: float = 3.0,
    seed: int = EVAL_SEED,
    progress: bool = False,
) -> list[dict]:
    """Speed and quality of each setting against ``settings[0]``, measured in one run.

    Args:
        model: a :class:`~ldm_teach.pipelines.TextToImage` (the course's ``shapes-t2i``).
        judge: the :class:`~ldm_teach.metrics.caption_judge.CaptionJudge` of its data.
        captions: N, how many captions (drawn without replacement from the 216, seeded;
            beyond 216 they repeat with new noise), an int in [1, 4320], divisible by
            ``repeats``.
        repeats: R, rounds (each N / R captions under every setting), an int in [1, 100].
        settings: the rows, the baseline first.
        guidance_scale: w of classifier-free guidance.
        seed: seeds the choice of captions and the starting noise.
        progress: print one line per round.
    Returns:
        one dict per setting: "name", "num_inference_steps", "seconds" (total sampling
        wall time over the rounds), "speedup" (baseline seconds / seconds), "speedup_min",
        "speedup_max" (over the rounds), "warmup_s" (one untimed 1-step call before the
        rounds; for torch.compile the compile time), "accuracy" (caption accuracy in
        [0, 1]), "accuracy_se" (binomial), "delta_points" (accuracy - baseline's, in
        points), "delta_se_points" (paired), "changed" (images judged differently),
        "max_abs_diff" (images against the baseline's), "error" (None, or why the setting
        failed, e.g. torch.compile on a machine without a compiler; its numbers are None).
    Raises:
        ValueError: for an argument out of range (named).
    """
    n = check_int(captions, "captions", lo=1, hi=4320)
    r = check_int(repeats, "repeats", lo=1, hi=100)
    if n % r:
        raise ValueError(f"captions ({n}) must be divisible by repeats ({r})")
    if not settings or not all(isinstance(s, InferenceSetting) for s in settings):
        raise ValueError("settings must be a non-empty tuple of InferenceSetting")
    check_bool(progress, "progress")
    gen = torch.Generator().manual_seed(check_int(seed, "seed", lo=0))
    pool = all_attributes() * math.ceil(n / 216)
    attributes = [pool[i] for i in torch.randperm(len(pool), generator=gen)[:n].tolist()]
    prompts = [caption_for(a) for a in attributes]
    noise = torch.randn((n, *model.latent_shape()), generator=gen)
    chunks = [slice(i, i + n // r) for i in range(0, n, n // r)]

    def run(s: InferenceSetting, part: slice, steps: int) -> tuple[torch.Tensor, float]:
        with fast_inference(model, **s.fast):
            t0 = time.perf_counter()
            images = model.sample(
                prompts[part],
                guidance_scale=guidance_scale,
                num_inference_steps=steps,
                x_T=noise[part],
                batch_guidance=s.batch_guidance,
            )
            return images, time.perf_counter() - t0

    rows = [{"name": s.name, "num_inference_steps": s.num_inference_steps} for s in settings]
    # warm-ups, torch.compile first so that its compile workers are idle before timing
    order = sorted(range(len(settings)), key=lambda i: not settings[i].fast.get("compile"))
    for row, s in ((rows[i], settings[i]) for i in order):
        try:  # warm-up: oneDNN primitives, torch.compile's compilation
            row["warmup_s"], row["error"] = run(s, chunks[0], 1)[1], None
        except Exception as err:  # noqa: BLE001  (reported, e.g. no C++ compiler for compile)
            row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    times = [[0.0] * r for _ in settings]
    images: list[list[torch.Tensor]] = [[] for _ in settings]
    for k, part in enumerate(chunks):
        for i, (row, s) in enumerate(zip(rows, settings, strict=True)):
            if row["error"] is None:
                out, times[i][k] = run(s, part, s.num_inference_steps)
                images[i].append(out)
        if progress:
            print(f"round {k + 1}/{r} done", flush=True)
    right = [_judged_right(judge, torch.cat(im), attributes) if im else None for im in images]
    for i, row in enumerate(rows):
        _fill_row(row, times[i], times[0], images[i], images[0], right[i], right[0])
    return rows


def _judged_right(judge, images, attributes) -> torch.Tensor:
    """(N,) bool: the judge reads all four captioned attributes."""
    judge.eval()
    logits = judge(images.float())
    want = attribute_targets(attributes)
    return torch.stack([logits[a].argmax(1) == want[a] for a in want]).all(0)


def _fill_row(row, times, base_times, images, base_images, right, base_right) -> None:
    keys = ("seconds", "speedup", "speedup_min", "speedup_max", "accuracy", "accuracy_se")
    keys += ("delta_points", "delta_se_points", "changed", "max_abs_diff")
    if right is None or base_right is None:
        row.update(dict.fromkeys(keys))
        row.setdefault("warmup_s", None)
        return
    n = right.numel()
    p = float(right.float().mean())
    d = right.float() - base_right.float()  # (N,) in {-1, 0, 1}, paired by caption and noise
    ratios = [b / t for b, t in zip(base_times, times, strict=True)]
    row.update(
        seconds=sum(times),
        speedup=sum(base_times) / sum(times),
        speedup_min=min(ratios),
        speedup_max=max(ratios),
        accuracy=p,
        accuracy_se=math.sqrt(p * (1 - p) / n),
        delta_points=100 * float(d.mean()),
        delta_se_points=100 * float(d.std(unbiased=False)) / math.sqrt(n),
        changed=int((d != 0).sum()),
        max_abs_diff=float((torch.cat(images) - torch.cat(base_images)).abs().max()),
    )
