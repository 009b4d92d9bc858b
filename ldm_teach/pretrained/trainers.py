"""Running a recipe: ``ldm-teach train NAME`` trains it, measures it, writes weights + card.

Each trainer takes a recipe from :mod:`ldm_teach.pretrained.recipes`, trains with
:func:`ldm_teach.training.train`, measures the model on held-out data with
:mod:`ldm_teach.metrics`, and saves fp16 weights plus a card recording all of it (including
the exact command and the wall time) with :func:`~ldm_teach.pretrained.cards.save_pretrained`.
Anyone can rerun a recipe and compare their card with the shipped one. The latent
diffusion trainer is in :mod:`ldm_teach.pretrained.ldm_trainer`.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.autoencoders import (
    VQVAE,
    AutoencoderKL,
    VQVAEConfig,
    autoencoder_kl_loss,
    vq_vae_loss,
)
from ldm_teach.data import DigitsDataset
from ldm_teach.metrics.features import DigitsFeatureNet, FeatureDistance
from ldm_teach.metrics.reconstruction import evaluate_autoencoder
from ldm_teach.pretrained import recipes, text_recipes
from ldm_teach.pretrained.cards import save_pretrained
from ldm_teach.pretrained.ldm_trainer import train_ldm_recipe
from ldm_teach.pretrained.recipe_run import (
    CURVE_EVERY,
    curve,
    prepare,
    recipe_images,
    refuse_to_overwrite,
    run_card,
)
from ldm_teach.pretrained.registry import load_feature_net
from ldm_teach.pretrained.text_trainers import (
    train_clip_recipe,
    train_judge_recipe,
    train_t2i_recipe,
)
from ldm_teach.training import TrainConfig, train


def train_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
    accelerator=None,
) -> dict | None:
    """Run the recipe ``name`` of any table; returns the card written.

    ``accelerator`` (an ``accelerate.Accelerator``) trains a latent-diffusion recipe
    data-parallel (:func:`~ldm_teach.pretrained.ldm_trainer.train_ldm_recipe`); processes
    other than the main one return None.

    Raises:
        KeyError: if ``name`` is in no recipe table (the message lists the names);
        ValueError: if ``accelerator`` is given for a recipe that is not latent diffusion;
        and what the trainer of its kind raises.
    """
    if name in recipes.FEATURE_RECIPES:
        fn = train_feature_recipe
    elif name in recipes.AE_RECIPES:
        fn = train_autoencoder_recipe
    elif name in recipes.LDM_RECIPES:
        fn = train_ldm_recipe
    elif name in text_recipes.JUDGE_RECIPES:
        fn = train_judge_recipe
    elif name in text_recipes.CLIP_RECIPES:
        fn = train_clip_recipe
    elif name in text_recipes.T2I_RECIPES:
        fn = train_t2i_recipe
    else:
        raise KeyError(
            f"no recipe named {name!r}; choose one of: " + ", ".join(sorted(recipes.all_recipes()))
        )
    if accelerator is not None:
        if fn is not train_ldm_recipe:
            raise ValueError(
                f"data-parallel training (accelerator, --data-parallel) is for the latent "
                f"diffusion recipes ({', '.join(sorted(recipes.LDM_RECIPES))}); {name!r} is not one"
            )
        return fn(name, out_dir, steps, overwrite, progress, command, accelerator=accelerator)
    return fn(name, out_dir, steps, overwrite, progress=progress, command=command)


def train_digits_feature_net(
    images: Tensor, labels: Tensor, config: TrainConfig | None = None, progress: bool = False
) -> tuple[DigitsFeatureNet, list[float]]:
    """Train a :class:`~ldm_teach.metrics.features.DigitsFeatureNet` by cross-entropy.

    Args:
        images: (N, 1, 32, 32) in [-1, 1]; labels: (N,) int64 in [0, 9].
        config: the training config (default: the ``digits-features`` recipe's). Each
            batch is shifted by up to 2 pixels (seeded), so features do not hinge on exact
            positions.
        progress: show a progress bar.
    Returns:
        (the network in eval mode, loss per step).
    Raises:
        ValueError: if images is not (N, 1, H, W) or labels not (N,).
    """
    if images.ndim != 4 or images.shape[1] != 1 or labels.shape != images.shape[:1]:
        raise ValueError("images must be (N, 1, H, W) and labels (N,)")
    config = config or recipes.FEATURE_RECIPES["digits-features"].train
    net = DigitsFeatureNet()

    def loss_fn(model, batch, gen):
        x, y = batch
        dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        return F.cross_entropy(model(x), y)

    result = train(net, loss_fn, (images, labels), config, progress=progress)
    return result.model.eval(), result.losses


def train_feature_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Run the feature-network recipe ``name``; returns the card written. Arguments and
    errors as for :func:`train_autoencoder_recipe`."""
    recipe = recipes.FEATURE_RECIPES[name]
    folder = refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = prepare(recipe.train, steps)
    train_set, test_set = DigitsDataset("train", size=32), DigitsDataset("test", size=32)
    t0 = time.perf_counter()
    net, losses = train_digits_feature_net(
        train_set.images.to(device), train_set.labels.to(device), cfg, progress
    )
    wall = time.perf_counter() - t0
    net = net.cpu()
    with torch.no_grad():
        acc = float((net(test_set.images).argmax(1) == test_set.labels).float().mean())
    card = {
        "kind": "feature_net",
        "description": recipe.description,
        "config": {"widths": list(net.widths), "num_classes": 10},
        "data": {"dataset": "digits", "split": "train", "num_images": len(train_set)},
        **run_card(name, steps, command, cfg, losses, wall),
        "metrics_test": {"accuracy": round(acc, 4), "num_images": len(test_set)},
    }
    save_pretrained(net, name, card, folder, overwrite=overwrite)
    return card


def _codebook_usage(model: VQVAE, images: Tensor) -> dict:
    """Codebook usage and perplexity of ``model`` on ``images`` (counts cleared after)."""
    model.quantizer.reset_usage()
    with torch.no_grad():
        for i in range(0, len(images), 256):
            model.quantizer(model.encode(images[i : i + 256].cpu()))
    usage = {
        "usage": round(model.quantizer.usage(), 4),
        "perplexity": round(model.quantizer.perplexity(), 2),
    }
    model.quantizer.reset_usage()
    return usage


def train_autoencoder_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Run the autoencoder recipe ``name`` (KL or VQ); returns the card written.

    ``command`` is the command line recorded on the card (default: the equivalent
    ``ldm-teach train NAME [--steps N]``). The card records the loss curve (means over
    10-step windows) and, for VQ models, the per-batch codebook perplexity curve.

    Raises:
        FileExistsError: if the checkpoint exists in ``out_dir`` and ``overwrite`` is False.
        FileNotFoundError: if the recipe's feature net has not been trained yet.
        ValueError, NotADirectoryError, IsADirectoryError, PermissionError: if ``out_dir``
            is empty, a file, or not writable (all of these before training starts).
    """
    recipe = recipes.AE_RECIPES[name]
    folder = refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = prepare(recipe.train, steps)
    images = recipe_images(recipe.data, "train", recipe.image_size).to(device)
    is_vq = isinstance(recipe.config, VQVAEConfig)
    model = (VQVAE if is_vq else AutoencoderKL)(recipe.config).to(device)
    perceptual = (
        FeatureDistance(load_feature_net(recipe.perceptual, folder)).to(device)
        if recipe.perceptual
        else None
    )
    logs: dict[str, list[float]] = {"rec": [], "perplexity": [], "perceptual": []}
    calls = [0]

    def loss_fn(m, batch, gen):
        (x,) = batch
        calls[0] += 1
        if is_vq:
            if recipe.restart_every and calls[0] % recipe.restart_every == 0:
                m.quantizer.restart_dead_codes(m.encode(x).detach(), generator=gen)
                m.quantizer.reset_usage()
            loss, parts = vq_vae_loss(m, x)
            logs["perplexity"].append(parts["perplexity"])
        else:
            loss, parts = autoencoder_kl_loss(
                m, x, recipe.kl_weight, gen, perceptual, recipe.perceptual_weight
            )
            if perceptual is not None:
                logs["perceptual"].append(parts["perceptual"])
        logs["rec"].append(parts["rec"])
        return loss

    t0 = time.perf_counter()
    result = train(model, loss_fn, (images,), cfg, progress=progress)
    wall = time.perf_counter() - t0
    model = result.model.cpu()
    card = {
        "kind": "autoencoder_vq" if is_vq else "autoencoder_kl",
        "description": recipe.description,
        "config": recipe.config.to_dict(),
        "data": {
            "dataset": recipe.data,
            "split": "train",
            "num_images": len(images),
            "image_size": recipe.image_size,
        },
        "loss": {
            "reconstruction": "l1",
            "kl_weight": None if is_vq else recipe.kl_weight,
            "perceptual": recipe.perceptual,
            "perceptual_weight": recipe.perceptual_weight,
            "commitment_cost": recipe.config.commitment_cost if is_vq else None,
            "restart_dead_codes_every": recipe.restart_every if is_vq else None,
        },
        **run_card(name, steps, command, cfg, result.losses, wall),
        "curves": {
            "every": CURVE_EVERY,
            "loss": curve(result.losses),
            "rec": curve(logs["rec"]),
            **({"perplexity": curve(logs["perplexity"])} if is_vq else {}),
            **({"perceptual": curve(logs["perceptual"])} if perceptual is not None else {}),
        },
        "metrics_test": evaluate_autoencoder(
            model, recipe_images(recipe.data, "test", recipe.image_size)
        ),
        **({"codebook_train": _codebook_usage(model, images)} if is_vq else {}),
    }
    save_pretrained(model, name, card, folder, overwrite=overwrite)
    return card
