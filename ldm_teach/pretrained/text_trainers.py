"""Running the 10.4 recipes: the caption judge, the mini-CLIP and the text-to-image LDMs
(``ldm-teach train shapes-judge``, ``shapes-clip``, ``shapes-t2i`` ...).

Each trainer draws its data from :class:`~ldm_teach.data.shapes.ShapesDataset` (seed 0 for
training, seed 1 for testing), trains with the course loop, measures the result on held-out
renders or samples, and writes fp16 weights with a card.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ldm_teach.data.shapes import SPLIT_SIZES, ShapesDataset, held_out_attributes, shapes_split
from ldm_teach.metrics.caption_judge import CaptionJudge, attribute_targets, judge_captions
from ldm_teach.metrics.clip_scores import clip_retrieval, clip_zero_shot
from ldm_teach.metrics.text_to_image import measure_text_to_image
from ldm_teach.models import UNet, compute_scale_factor
from ldm_teach.pipelines import TextToImage
from ldm_teach.pretrained import text_recipes as tr
from ldm_teach.pretrained.cards import load_card, save_pretrained
from ldm_teach.pretrained.recipe_run import (
    CURVE_EVERY,
    curve,
    prepare,
    refuse_to_overwrite,
    run_card,
)
from ldm_teach.pretrained.registry import load_autoencoder
from ldm_teach.pretrained.text_registry import load_caption_judge, load_mini_clip
from ldm_teach.text import TextEncoder, shapes_tokenizer
from ldm_teach.text.mini_clip import MiniCLIP, clip_loss
from ldm_teach.training import train

ATTRS = ("shape", "colour", "size", "position")
#: Samples per caption behind a card's caption accuracy (216 x 2 = 432 images).
EVAL_PER_CAPTION = 2


def _captioned_data_card(data) -> dict:
    """The card's "data" entry of a model trained on captions (mini-CLIP, text-to-image)."""
    return {
        "dataset": "shapes",
        "split": "train",
        "num_images": len(data),
        "seed": 0,
        "held_out_combinations": len(held_out_attributes()),
    }


def augment(x: torch.Tensor, recipe: tr.JudgeRecipe, gen: torch.Generator) -> torch.Tensor:
    """A judge's training batch made unlike exact renders: per-image, per-channel gain on
    the colour (x + 1 scaled, so black stays black), a 3x3 box blur on some images, and
    Gaussian noise. (B, 3, H, W) in [-1, 1] -> same shape."""
    B = x.shape[0]
    lo, hi = recipe.gain_range
    gain = lo + (hi - lo) * torch.rand(B, 3, 1, 1, generator=gen).to(x.device)
    x = (x + 1) * gain - 1
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    pick = (torch.rand(B, 1, 1, 1, generator=gen) < recipe.blur_prob).to(x.device)
    x = torch.where(pick, blurred, x)
    return x + recipe.noise_std * torch.randn(x.shape, generator=gen).to(x.device)


def train_judge_recipe(
    name, out_dir=None, steps=None, overwrite=False, progress=True, command=None
) -> dict:
    """Train the caption judge ``name`` on real renders (all 216 combinations: it is the
    measuring instrument, not a generator); returns its card. Errors as the autoencoder
    trainer's."""
    recipe = tr.JUDGE_RECIPES[name]
    folder = refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = prepare(recipe.train, steps)
    data = ShapesDataset(SPLIT_SIZES["train"], 32, seed=0)  # all 216 combinations
    targets = attribute_targets(data.attributes)
    tensors = (data.images, *(targets[a] for a in ATTRS))

    def loss_fn(model, batch, gen):
        x, *ys = batch
        return model.loss(augment(x, recipe, gen), dict(zip(ATTRS, ys, strict=True)))

    t0 = time.perf_counter()
    result = train(
        CaptionJudge(recipe.widths).to(device),
        loss_fn,
        tuple(t.to(device) for t in tensors),
        cfg,
        progress=progress,
    )
    wall = time.perf_counter() - t0
    judge = result.model.cpu().eval()
    test = shapes_split("test")
    card = {
        "kind": "caption_judge",
        "description": recipe.description,
        "config": {"widths": list(recipe.widths)},
        "data": {"dataset": "shapes", "split": "train", "num_images": len(data), "seed": 0},
        "augment": {
            "noise_std": recipe.noise_std,
            "blur_prob": recipe.blur_prob,
            "gain_range": list(recipe.gain_range),
        },
        **run_card(name, steps, command, cfg, result.losses, wall),
        "curves": {"every": CURVE_EVERY, "loss": curve(result.losses)},
        "metrics_test": {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in judge_captions(judge, test.images, test.attributes).items()
        },
    }
    save_pretrained(judge, name, card, folder, overwrite=overwrite)
    return card


def train_clip_recipe(
    name, out_dir=None, steps=None, overwrite=False, progress=True, command=None
) -> dict:
    """Train the mini-CLIP ``name`` by symmetric InfoNCE on the training combinations;
    the card records zero-shot attribute accuracy on test renders and caption -> image
    retrieval top-1 over a gallery of the 216 captions (held-out ones reported apart)."""
    recipe = tr.CLIP_RECIPES[name]
    folder = refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = prepare(recipe.train, steps)
    tok = shapes_tokenizer(recipe.config.text.context_length)
    data = shapes_split("train")
    ids = tok(data.captions).input_ids

    def loss_fn(model, batch, gen):
        x, w = batch
        same = (w[:, None, :] == w[None, :, :]).all(-1)  # (B, B) same caption
        return clip_loss(model(x, w), same)

    t0 = time.perf_counter()
    result = train(
        MiniCLIP(recipe.config).to(device),
        loss_fn,
        (data.images.to(device), ids.to(device)),
        cfg,
        progress=progress,
    )
    wall = time.perf_counter() - t0
    clip = result.model.cpu().eval()
    card = {
        "kind": "mini_clip",
        "description": recipe.description,
        "config": recipe.config.to_dict(),
        "tokenizer": tok.to_dict(),
        "data": _captioned_data_card(data),
        **run_card(name, steps, command, cfg, result.losses, wall),
        "curves": {"every": CURVE_EVERY, "loss": curve(result.losses)},
        "metrics_test": clip_metrics(clip, tok),
        "temperature": round(float(1.0 / clip.logit_scale.detach().exp()), 5),
    }
    save_pretrained(clip, name, card, folder, overwrite=overwrite)
    return card


def clip_metrics(clip: MiniCLIP, tok) -> dict:
    """Zero-shot accuracy on the test renders and retrieval top-1 on the gallery."""
    test, gallery = shapes_split("test"), shapes_split("gallery")
    held = held_out_attributes()
    is_held = [a in held for a in gallery.attributes]
    scores = clip_zero_shot(clip, tok, test.images, test.attributes)
    sub = [i for i, h in enumerate(is_held) if h]
    return {
        "zero_shot": {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
        "retrieval_top1": round(clip_retrieval(clip, tok, gallery.images, gallery.attributes), 4),
        "retrieval_top1_held_out_gallery": round(
            clip_retrieval(clip, tok, gallery.images[sub], [gallery.attributes[i] for i in sub]), 4
        ),
    }


def _text_encoder(
    recipe: tr.TextToImageRecipe, folder: Path, device
) -> tuple[TextEncoder, str | None]:
    """The recipe's text encoder and the SHA-256 of the mini-CLIP it comes from (frozen)."""
    if recipe.text_encoder == "frozen-clip":
        clip = load_mini_clip(recipe.clip, folder)
        return copy.deepcopy(clip.text_encoder).to(device), load_card(recipe.clip, folder)["sha256"]
    return TextEncoder(recipe.text_config).to(device), None


def train_t2i_recipe(
    name, out_dir=None, steps=None, overwrite=False, progress=True, command=None
) -> dict:
    """Train the text-to-image recipe ``name`` (its autoencoder, mini-CLIP and the judge
    must exist in ``out_dir``); returns the card. The card pins the SHA-256 of the
    autoencoder and of the mini-CLIP, and records caption accuracy on the training and
    the held-out combinations (:func:`measure_text_to_image`)."""
    recipe = tr.T2I_RECIPES[name]
    folder = refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = prepare(recipe.train, steps)
    autoencoder = load_autoencoder(recipe.autoencoder, folder).to(device)
    ae_sha = load_card(recipe.autoencoder, folder)["sha256"]
    text_encoder, clip_sha = _text_encoder(recipe, folder, device)
    tok = shapes_tokenizer(text_encoder.config.context_length)
    data = shapes_split("train")
    images = data.images.to(device)
    scale_factor = compute_scale_factor(autoencoder, images)
    model = TextToImage(
        autoencoder,
        UNet(recipe.unet),
        text_encoder,
        tok,
        recipe.schedule,
        scale_factor,
        image_size=32,
        cond_drop_prob=recipe.cond_drop_prob,
        prediction_type=recipe.prediction_type,
        train_text_encoder=recipe.text_encoder != "frozen-clip",
    ).to(device)
    z0 = torch.cat([model.encode(images[i : i + 500]) for i in range(0, len(images), 500)])
    ids = tok(data.captions).input_ids.to(device)
    trainable = nn.ModuleDict({"unet": model.unet, "text_encoder": model.text_encoder})

    def loss_fn(_, batch, gen):
        return model.loss(batch[0], batch[1], gen)

    t0 = time.perf_counter()
    result = train(trainable, loss_fn, (z0, ids), cfg, progress=progress)
    wall = time.perf_counter() - t0
    if result.ema_model is not None:
        trainable.load_state_dict(result.ema_model.state_dict())  # sample with the EMA weights
    model = model.cpu().eval()
    judge = load_caption_judge("shapes-judge", folder)  # the instrument, loaded to measure
    metrics = measure_text_to_image(
        model, judge, recipe.eval_guidance_scale, recipe.eval_steps, EVAL_PER_CAPTION
    )
    card = {
        "kind": "text_to_image",
        "description": recipe.description,
        "autoencoder": recipe.autoencoder,
        "autoencoder_sha256": ae_sha,
        "text_encoder": recipe.text_encoder,
        **({"clip": recipe.clip, "clip_sha256": clip_sha} if clip_sha else {}),
        "config": {
            "unet": recipe.unet.to_dict(),
            "text": text_encoder.config.to_dict(),
            "tokenizer": tok.to_dict(),
            "schedule": asdict(recipe.schedule),
            "scale_factor": scale_factor,
            "image_size": 32,
            "cond_drop_prob": recipe.cond_drop_prob,
            "prediction_type": recipe.prediction_type,
        },
        "data": _captioned_data_card(data),
        **run_card(name, steps, command, cfg, result.losses, wall),
        "curves": {"every": CURVE_EVERY, "loss": curve(result.losses)},
        "metrics": {**metrics, "judge_sha256": load_card("shapes-judge", folder)["sha256"]},
    }
    save_pretrained(trainable.cpu(), name, card, folder, overwrite=overwrite)
    return card
