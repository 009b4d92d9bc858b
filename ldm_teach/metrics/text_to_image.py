"""Caption accuracy of a text-to-image model: sample every caption, let the judge read
the four attributes back (see :mod:`ldm_teach.metrics.caption_judge`).

The course's figure is measured on all 216 captions, ``per_caption`` seeded samples each
(seed :data:`EVAL_SEED`), at 25 DDIM steps, and split into the 192 combinations the model
trained on and the 24 held out of training (compositional generalisation).
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from ldm_teach.argcheck import check_int
from ldm_teach.data.shapes import all_attributes, caption_for, held_out_attributes
from ldm_teach.metrics.caption_judge import CaptionJudge, judge_captions

__all__ = ["EVAL_SEED", "caption_accuracy_split", "measure_text_to_image", "sample_captions"]

EVAL_SEED = 1234


@torch.no_grad()
def sample_captions(
    model,
    attributes: list[dict[str, str]],
    guidance_scale: float = 3.0,
    num_inference_steps: int = 25,
    seed: int = EVAL_SEED,
    batch_size: int = 216,
    **sample_kwargs,
) -> Tensor:
    """One sample per attribute dict (its caption), seeded: (N, 3, H, W) in [-1, 1].

    ``model`` is a :class:`~ldm_teach.pipelines.TextToImage`; ``sample_kwargs`` go to its
    ``sample`` (negative_prompt, guidance_rescale, height, width, ...).
    """
    gen = torch.Generator().manual_seed(check_int(seed, "seed", lo=0))
    captions = [caption_for(a) for a in attributes]
    out = [
        model.sample(
            captions[i : i + batch_size],
            guidance_scale=guidance_scale,
            num_inference_steps=num_inference_steps,
            generator=gen,
            **sample_kwargs,
        )
        for i in range(0, len(captions), batch_size)
    ]
    return torch.cat(out)


def caption_accuracy_split(
    judge: CaptionJudge, images: Tensor, attributes: list[dict[str, str]]
) -> dict[str, dict]:
    """The judge's scores on all images, on the training combinations ("seen") and on the
    held-out ones ("held_out")."""
    held = held_out_attributes()
    seen_i = [i for i, a in enumerate(attributes) if a not in held]
    held_i = [i for i, a in enumerate(attributes) if a in held]

    def part(idx: list[int]) -> dict:
        if not idx:
            return {}
        scores = judge_captions(judge, images[idx], [attributes[i] for i in idx])
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}

    return {
        "all": part(list(range(len(attributes)))),
        "seen": part(seen_i),
        "held_out": part(held_i),
    }


def measure_text_to_image(
    model,
    judge: CaptionJudge,
    guidance_scale: float = 3.0,
    num_inference_steps: int = 25,
    per_caption: int = 2,
    seed: int = EVAL_SEED,
) -> dict:
    """Caption accuracy of ``model`` over the 216 captions x ``per_caption`` samples.

    Returns:
        {"all"/"seen"/"held_out": judge scores (per attribute, "caption", "num_images"),
        "guidance_scale", "num_inference_steps", "per_caption", "seed", "sampling_wall_s"}.
    """
    per_caption = check_int(per_caption, "per_caption", lo=1)
    attributes = all_attributes() * per_caption
    t0 = time.perf_counter()
    images = sample_captions(model, attributes, guidance_scale, num_inference_steps, seed)
    wall = time.perf_counter() - t0
    return {
        **caption_accuracy_split(judge, images, attributes),
        "guidance_scale": guidance_scale,
        "num_inference_steps": num_inference_steps,
        "per_caption": per_caption,
        "seed": seed,
        "sampling_wall_s": round(wall, 2),
    }
