"""What every recipe run shares: the output check before training, the seeded training
config, the data, and the card fields every trainer writes the same way; and
:func:`short_run`, a short live run of a latent-diffusion recipe with changed settings
(Sec. 10.3.4: mixed precision, gradient accumulation, EMA, progressive training)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from ldm_teach.argcheck import check_bool, check_int
from ldm_teach.data import DigitsDataset, photo_patches
from ldm_teach.data.shapes import shapes_split
from ldm_teach.device import default_device, seed_everything
from ldm_teach.models import LatentDiffusion, UNet, diagnose
from ldm_teach.pretrained.cards import WEIGHTS_DIR, card_path, weights_path
from ldm_teach.pretrained.recipes import LDM_RECIPES
from ldm_teach.pretrained.registry import load_latent_diffusion
from ldm_teach.training import TrainConfig, train
from ldm_teach.training.checkpoint import check_output_dir

#: Steps per point of the loss curves stored on cards.
CURVE_EVERY = 10


def refuse_to_overwrite(name: str, out_dir: Path | None, overwrite: bool) -> Path:
    """The folder a recipe writes to, checked before training, not after.

    Raises:
        ValueError, NotADirectoryError, PermissionError: ``out_dir`` is empty, a file or
            not writable.
        IsADirectoryError: the weights or card path is a folder.
        FileExistsError: the checkpoint exists and ``overwrite`` is False.
    """
    overwrite = check_bool(overwrite, "overwrite")  # "False" must not mean yes
    folder = check_output_dir(WEIGHTS_DIR if out_dir is None else out_dir, what="out_dir")
    paths = (weights_path(name, folder), card_path(name, folder))
    for path in paths:
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; it cannot be replaced by a file")
    for path in paths:
        if not overwrite and path.exists():
            raise FileExistsError(
                f"{path} already exists; pass --overwrite to replace it or --out-dir to "
                f"train a copy elsewhere"
            )
    return folder


def prepare(train_config: TrainConfig, steps: int | None) -> tuple[TrainConfig, torch.device]:
    """The recipe's train config (with ``steps`` overridden), seeded RNGs, and the device."""
    cfg = train_config if steps is None else replace(train_config, steps=steps)
    seed_everything(cfg.seed)
    return cfg, default_device()


def final_loss(losses: list[float], window: int = 50) -> float:
    """Mean training loss over the last ``window`` steps, rounded for the card."""
    tail = losses[-window:]
    return round(sum(tail) / len(tail), 5)


def curve(values: list[float], every: int = CURVE_EVERY) -> list[float]:
    """A training curve for the card: means of consecutive windows of ``every`` steps."""
    return [
        round(sum(values[i : i + every]) / len(values[i : i + every]), 5)
        for i in range(0, len(values), every)
    ]


def default_command(name: str, steps: int | None) -> str:
    """The ``ldm-teach train`` command line equivalent to a run of ``name``."""
    return f"ldm-teach train {name}" + (f" --steps {steps}" if steps is not None else "")


def recipe_images(data: str, split: str, size: int) -> torch.Tensor:
    """(N, C, size, size) images in [-1, 1] of a recipe's dataset ("digits", "photos" or
    "shapes": :func:`~ldm_teach.data.shapes.shapes_split`)."""
    if data == "digits":
        return DigitsDataset(split=split, size=size).images
    if data == "photos":
        # overlapping patches (stride size/2) give the small photo set 4x more examples
        return photo_patches(
            split=split, patch_size=size, stride=size // 2 if split == "train" else size
        )
    if data == "shapes":
        return shapes_split(split, size).images
    raise ValueError(f"data must be 'digits', 'photos' or 'shapes', got {data!r}")


def run_card(
    name: str,
    steps: int | None,
    command: str | None,
    cfg: TrainConfig,
    losses: list[float],
    wall_s: float,
) -> dict:
    """The card fields every recipe writes: training config, steps, final loss, wall time
    (seconds), the command line, and the torch version."""
    return {
        "train_config": asdict(cfg),
        "steps": cfg.steps,
        "final_loss": final_loss(losses),
        "wall_time_s": round(wall_s, 1),
        "command": command or default_command(name, steps),
        "torch_version": torch.__version__,
    }


@dataclass(frozen=True)
class ShortRun:
    """The result of :func:`short_run`."""

    config: TrainConfig  # the training config of the run (the recipe's, changed)
    losses: list[float]  # training loss at every optimizer step
    wall_s: float  # seconds spent in ``train`` (machine- and load-dependent)
    # mean noise-prediction error on the test digits (``diagnose``'s eps_mse averaged over
    # its timestep buckets) of the final weights, "raw", and of their EMA, "ema" (None
    # without EMA); predicting eps = 0 scores 1.0
    test_eps_mse: dict[str, float | None]


def _check_short_run(name: str, changes: dict, progressive_from, f: int, depth: int) -> None:
    known = [field.name for field in fields(TrainConfig) if field.name != "steps"]
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"unknown TrainConfig fields {unknown}; a short run can change {known}")
    if progressive_from is not None:
        check_int(progressive_from, "progressive_from", 1, 31)
        if progressive_from % (f * depth):
            raise ValueError(
                f"progressive_from must be a multiple of {f * depth} for {name!r} (its "
                f"autoencoder downsamples by {f}, its UNet by {depth}), got {progressive_from}"
            )


def short_run(
    name: str,
    steps: int = 80,
    *,
    progressive_from: int | None = None,
    num_test: int = 200,
    **changes,
) -> ShortRun:
    """Train the UNet of the latent-diffusion recipe ``name`` afresh, briefly, with changed
    training settings, and score it on the test digits.

    The stage 1, schedule and scale factor are those of the shipped model ``name``; the
    UNet is a new one of the recipe's config, initialised from ``torch.manual_seed`` of the
    run's seed; it trains on the 1437 training digits, encoded once. ``changes`` replace
    fields of the recipe's :class:`~ldm_teach.training.TrainConfig`, e.g.
    ``short_run("digits-cmp-f4", warmup_steps=20, ema_decay=0.9, bf16_autocast=True)`` or
    ``batch_size=8, grad_accum=4``. Both the final weights and their EMA are scored by the
    noise-prediction error of :func:`~ldm_teach.models.diagnose` (10 timestep buckets,
    its default generator) on the first ``num_test`` test digits.

    Args:
        name: a latent-diffusion recipe with a shipped checkpoint, e.g. "digits-cmp-f4".
        steps: optimizer steps, an int >= 1.
        progressive_from: None, or an image size (e.g. 16): progressive training
            (Sec. 10.3.4), the first ``steps // 2`` steps on latents of digits of that size,
            the rest on the 32 x 32 ones; a multiple of the total downsampling factor.
        num_test: test digits to score on, an int in [1, 360].
        changes: TrainConfig fields to change (``steps`` is the argument above).
    Returns:
        a :class:`ShortRun`.
    Raises:
        ValueError: for a name that is not a latent-diffusion recipe, an unknown TrainConfig
            field or a bad value of one (TrainConfig's checks), steps or num_test out of
            range, or a progressive_from the latents cannot be made of.
        FileNotFoundError: if the checkpoint of ``name`` is not in the package.
    """
    if name not in LDM_RECIPES:
        raise ValueError(
            f"name must be a latent-diffusion recipe {sorted(LDM_RECIPES)}, got {name!r}"
        )
    steps = check_int(steps, "steps", lo=1)
    num_test = check_int(num_test, "num_test", 1, 360)
    recipe = LDM_RECIPES[name]
    shipped = load_latent_diffusion(name)
    f = 32 // shipped.latent_shape(32)[-1]  # the autoencoder's downsampling factor
    _check_short_run(name, changes, progressive_from, f, 2 ** (len(recipe.unet.channel_mult) - 1))
    cfg = replace(recipe.train, steps=steps, **changes)
    train_set, test = DigitsDataset("train"), DigitsDataset("test")
    with torch.no_grad():  # the autoencoder is frozen: encode once
        z_train = shipped.encode(train_set.images)  # (1437, c, h, w)
        z_small = None
        if progressive_from is not None:
            z_small = shipped.encode(DigitsDataset("train", size=progressive_from).images)
    data, labels = (z_train if z_small is None else z_small), train_set.labels
    stages = () if z_small is None else [(steps // 2, (z_train, labels))]

    torch.manual_seed(cfg.seed)  # the fresh UNet's initial weights
    ldm = LatentDiffusion(
        shipped.autoencoder,
        UNet(recipe.unet),
        shipped.schedule.config,
        float(shipped.scale_factor),
        shipped.cond_drop_prob,
    )
    t0 = time.perf_counter()
    with torch.enable_grad():
        result = train(
            ldm.unet,
            lambda unet, batch, gen: ldm.loss(*batch, gen),
            (data, labels),
            cfg,
            progress=False,
            stages=stages,
        )
    wall_s = time.perf_counter() - t0

    scores: dict[str, float | None] = {"raw": None, "ema": None}
    for which, weights in (("raw", result.model), ("ema", result.ema_model)):
        if weights is None:
            continue
        ldm.unet.load_state_dict(weights.state_dict())
        d = diagnose(ldm, test.images[:num_test], test.labels[:num_test], sample=False)
        scores[which] = float(np.mean([mse for _, _, mse in d["eps_mse"]]))
    return ShortRun(config=cfg, losses=list(result.losses), wall_s=wall_s, test_eps_mse=scores)
