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
from ldm_teach.data.shapes import COLOURS, all_attributes, caption_for, held_out_attributes
from ldm_teach.metrics.attention import foreground_masks, map_iou, mask_positions, pointing_hits
from ldm_teach.metrics.caption_judge import CaptionJudge, attribute_targets, judge_captions
from ldm_teach.pipelines.attention_maps import word_attention_maps
from ldm_teach.pipelines.editing import prompt_to_prompt

__all__ = [
    "EVAL_SEED",
    "caption_accuracy_split",
    "colour_swaps",
    "measure_attention",
    "measure_prompt_to_prompt",
    "measure_text_to_image",
    "sample_captions",
]

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


@torch.no_grad()
def measure_attention(
    model,
    attributes: list[dict[str, str]],
    guidance_scale: float = 3.0,
    num_inference_steps: int = 25,
    seed: int = EVAL_SEED,
) -> dict:
    """How well cross-attention maps find the generated shape.

    For each caption: sample it while collecting DAAM maps (the cross-attention softmax of
    every layer, head and step, upsampled and summed; Tang et al. 2022, arXiv:2210.04885);
    the generated shape's pixels (:func:`~ldm_teach.metrics.attention.foreground_masks`)
    are the truth. Four maps are scored:

    - the shape word's map, as DAAM aggregates it;
    - the shape word's share of the attention on the caption's words (start, end and
      padding tokens left out and the rest renormalised, as Attend-and-Excite does;
      Chefer et al. 2023, arXiv:2301.13826, Sec. 3.2);
    - the start token's map, inverted: the start token is an *attention sink* (Xiao et al.
      2023, arXiv:2309.17453) whose hidden state is the same for every caption (the causal
      encoder has read nothing yet); where a pixel does not dump its attention there, it
      reads the caption;
    - the baselines: the article "a" (a word with no place in the image), and always
      pointing at the centre.

    Returns:
        {"pointing", "iou": the shape word's map (pointing: fraction whose peak is in the
        shape's grid cell; iou: mean IoU of the binarised map with the shape's pixels),
        "word_share_pointing", "word_share_iou", "sink_pointing", "sink_iou" (the inverted
        start-token map), "baseline_pointing", "baseline_iou" (the article),
        "centre_pointing", "num_images"}.
    """
    gen = torch.Generator().manual_seed(check_int(seed, "seed", lo=0))
    captions = [caption_for(a) for a in attributes]
    images, maps, tokens, raw = word_attention_maps(
        model,
        captions,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        generator=gen,
        return_raw=True,
    )
    nouns = [toks.index(a["shape"]) for toks, a in zip(tokens, attributes, strict=True)]
    noun = torch.stack([maps[i, j] for i, j in enumerate(nouns)])  # (N, H, W)
    share = torch.stack(
        [
            raw[i, j] / raw[i, 1 : len(tokens[i]) - 1].sum(0).clamp_min(1e-12)
            for i, j in enumerate(nouns)
        ]
    )
    sink = 1.0 - maps[:, 0]  # the start token's map, inverted, in [0, 1]
    article = maps[:, 1]  # "a", the first word of every caption
    masks = foreground_masks(images)
    where = mask_positions(masks)
    centre = torch.zeros_like(noun)
    centre[:, noun.shape[1] // 2, noun.shape[2] // 2] = 1.0

    def hits(m: Tensor) -> float:
        return round(float(pointing_hits(m, where).float().mean()), 4)

    def iou(m: Tensor) -> float:
        return round(float(map_iou(m, masks).mean()), 4)

    return {
        "pointing": hits(noun),
        "iou": iou(noun),
        "word_share_pointing": hits(share),
        "word_share_iou": iou(share),
        "sink_pointing": hits(sink),
        "sink_iou": iou(sink),
        "baseline_pointing": hits(article),
        "baseline_iou": iou(article),
        "centre_pointing": hits(centre),
        "num_images": len(captions),
    }


def colour_swaps(attributes: list[dict[str, str]]) -> list[tuple[dict, dict]]:
    """(source, edit) attribute pairs: each source with its colour replaced by the next one
    of COLOURS (red -> green -> blue -> yellow -> red), the other three kept."""
    colours = list(COLOURS)
    return [
        (a, {**a, "colour": colours[(colours.index(a["colour"]) + 1) % len(colours)]})
        for a in attributes
    ]


@torch.no_grad()
def measure_prompt_to_prompt(
    model,
    judge: CaptionJudge,
    swaps: list[tuple[dict, dict]],
    cross_replace: float = 0.8,
    guidance_scale: float = 3.0,
    num_inference_steps: int = 25,
    seed: int = EVAL_SEED,
) -> dict:
    """Success of prompt-to-prompt colour swaps against regeneration from the same noise.

    An edit succeeds when the judge reads the new colour in the edited image and the same
    shape, size and position as it reads in the source image (the layout kept). Each pair
    gets its own starting noise (seeded); the same noise serves both methods.

    Returns:
        {"prompt_to_prompt": success rate with the source's maps injected for the first
        ``cross_replace`` of the steps, "regenerate": the rate without injection
        (cross_replace = 0), "new_colour" / "kept_layout": the two halves of the p2p
        criterion, "layout_iou" / "regenerate_layout_iou": the mean IoU of the shape's
        pixels in the source and the edit (1 = drawn on exactly the same pixels),
        "num_edits", "cross_replace"}.
    """
    gen = torch.Generator().manual_seed(check_int(seed, "seed", lo=0))
    noises = [torch.randn((1, *model.latent_shape()), generator=gen) for _ in swaps]
    results = {}
    for label, frac in (("prompt_to_prompt", cross_replace), ("regenerate", 0.0)):
        pairs = [
            prompt_to_prompt(
                model,
                caption_for(src),
                caption_for(dst),
                cross_replace=frac,
                guidance_scale=guidance_scale,
                num_inference_steps=num_inference_steps,
                x_T=x_T,
            )
            for (src, dst), x_T in zip(swaps, noises, strict=True)
        ]
        results[label] = _swap_success(
            judge, torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]), swaps
        )
    return {
        "prompt_to_prompt": results["prompt_to_prompt"]["success"],
        "regenerate": results["regenerate"]["success"],
        "layout_iou": results["prompt_to_prompt"]["layout_iou"],
        "regenerate_layout_iou": results["regenerate"]["layout_iou"],
        "new_colour": results["prompt_to_prompt"]["new_colour"],
        "kept_layout": results["prompt_to_prompt"]["kept_layout"],
        "regenerate_kept_layout": results["regenerate"]["kept_layout"],
        "num_edits": len(swaps),
        "cross_replace": cross_replace,
    }


def _swap_success(judge, sources, edits, swaps) -> dict:
    judge.eval()
    read_src = {a: l.argmax(1) for a, l in judge(sources).items()}
    read_edit = {a: l.argmax(1) for a, l in judge(edits).items()}
    want = attribute_targets([dst for _, dst in swaps])
    colour_ok = read_edit["colour"] == want["colour"]
    layout_ok = torch.stack(
        [read_edit[a] == read_src[a] for a in ("shape", "size", "position")]
    ).all(0)
    same = foreground_masks(sources) & foreground_masks(edits)
    either = foreground_masks(sources) | foreground_masks(edits)
    iou = same.flatten(1).sum(1) / either.flatten(1).sum(1).clamp_min(1)  # (N,)
    return {
        "layout_iou": round(float(iou.mean()), 4),
        "success": round(float((colour_ok & layout_ok).float().mean()), 4),
        "new_colour": round(float(colour_ok.float().mean()), 4),
        "kept_layout": round(float(layout_ok.float().mean()), 4),
    }
