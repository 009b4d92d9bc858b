"""Running a latent-diffusion recipe: ``ldm-teach train digits-ldm`` and the 10.3 family.

The autoencoder is loaded (and verified) from the weights folder, the training images are
encoded once, the UNet is trained on the latents with classifier-free label dropout, and
the EMA model's samples are measured; the card pins the autoencoder's SHA-256.

Data-parallel (course Sec. 10.5): ``train_ldm_recipe(..., accelerator=Accelerator())``
trains the UNet on P processes with :func:`ldm_teach.training.train`'s ``accelerator``
(the recipe's batch size is the global batch); the main process alone measures and writes.
From the shell::

    torchrun --nproc_per_node 2 -m ldm_teach.cli train digits-ldm --data-parallel
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ldm_teach.data import DigitsDataset
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.metrics.samples import EVAL_PER_CLASS, EVAL_SEED, measure_ldm_samples
from ldm_teach.models import LatentDiffusion, UNet, compute_scale_factor
from ldm_teach.pretrained import recipes
from ldm_teach.pretrained.cards import load_card, save_pretrained
from ldm_teach.pretrained.recipe_run import (
    CURVE_EVERY,
    curve,
    prepare,
    refuse_to_overwrite,
    run_card,
)
from ldm_teach.pretrained.registry import fixed_stage_one, load_autoencoder, load_feature_net
from ldm_teach.training import train


def latent_schedule(recipe: recipes.LDMRecipe, latent_std: float) -> ScheduleConfig:
    """The schedule a recipe trains with, given the std σ of its unscaled latents: the
    recipe's schedule, adapted as its ``schedule_from_latents`` says (betas times σ for
    "chapter_heuristic", SNR times 1/σ² for "std_shift")."""
    schedule = recipe.schedule
    if recipe.schedule_from_latents == "chapter_heuristic":
        return replace(
            schedule,
            beta_start=schedule.beta_start * latent_std,
            beta_end=schedule.beta_end * latent_std,
        )
    if recipe.schedule_from_latents == "std_shift":
        return replace(schedule, snr_scale=1.0 / latent_std**2)
    return schedule


def _stage_one(name: str, folder: Path, device) -> torch.nn.Module:
    """The recipe's frozen stage 1: a shipped autoencoder, or a fixed one (FIXED_STAGE_ONE)."""
    fixed = fixed_stage_one(name, 1)
    return (fixed if fixed is not None else load_autoencoder(name, folder)).to(device)


def _ema_copy(ldm: LatentDiffusion, result) -> LatentDiffusion:
    """A CPU copy of ``ldm`` in eval mode with the EMA weights of ``result`` (if any)."""
    model = copy.deepcopy(ldm).cpu().eval()
    if result.ema_model is not None:
        model.unet.load_state_dict(result.ema_model.state_dict())
    return model


def train_ldm_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
    accelerator=None,
) -> dict | None:
    """Run the latent-diffusion recipe ``name`` (its autoencoder must exist in ``out_dir``);
    returns the card written. ``command``, ``overwrite`` and the errors as for
    :func:`~ldm_teach.pretrained.trainers.train_autoencoder_recipe`. The card pins the
    SHA-256 of the autoencoder's weights (``autoencoder_sha256``), checked by
    :func:`~ldm_teach.pretrained.registry.check_autoencoder_pin`.

    The card records the loss curve (means of 10 steps), and, when the recipe sets
    ``eval_every``, a convergence curve: the EMA model's samples measured every
    ``eval_every`` steps (training runs in segments that resume from a checkpoint in a
    temporary folder, so the result equals one uninterrupted run).

    With an ``accelerate.Accelerator`` the UNet trains data-parallel on its processes
    (the data on ``accelerator.device``; the segments' checkpoints in the main process's
    temporary folder, which every process must see: one machine, or a shared file
    system); the main process measures, writes and returns the card, the others return
    None.
    """
    recipe = recipes.LDM_RECIPES[name]
    folder = refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = prepare(recipe.train, steps)
    is_main = accelerator is None or accelerator.is_main_process
    if accelerator is not None:
        device = accelerator.device
    autoencoder = _stage_one(recipe.autoencoder, folder, device)
    # pinned now, when it is loaded (and verified): if the autoencoder is retrained while
    # this model trains, the card still names the one the latents came from
    parent_sha = (
        None
        if recipe.autoencoder in recipes.FIXED_STAGE_ONE
        else load_card(recipe.autoencoder, folder)["sha256"]
    )
    # the measuring instrument is the shipped feature net, whatever folder this run writes to
    feature_net = load_feature_net("digits-features")
    train_set = DigitsDataset(split="train", size=32)
    images, labels = train_set.images.to(device), train_set.labels.to(device)
    latent_std = 1.0 / compute_scale_factor(autoencoder, images)  # σ of the unscaled latents
    scale_factor = recipe.scale_factor or 1.0 / latent_std
    schedule = latent_schedule(recipe, latent_std)
    ldm = LatentDiffusion(
        autoencoder, UNet(recipe.unet), schedule, scale_factor, recipe.cond_drop_prob
    ).to(device)
    z0 = ldm.encode(images)  # encode once: the autoencoder is frozen

    def loss_fn(unet, batch, gen):
        z, y = batch
        return ldm.loss(z, y, gen, unet=unet)  # unet: ldm.unet, or its DDP wrapper

    def measure(model: LatentDiffusion, num_steps: int) -> dict:
        return measure_ldm_samples(
            model,
            num_steps,
            recipe.eval_guidance_scale,
            feature_net=feature_net,
            seed=EVAL_SEED,
            per_class=EVAL_PER_CLASS,
        )

    # train, in segments of eval_every steps when the recipe tracks convergence
    every = recipe.eval_every if 0 < recipe.eval_every < cfg.steps else cfg.steps
    ends = list(range(every, cfg.steps, every)) + [cfg.steps]
    tracked = ("classifier_accuracy", "frechet_distance")
    convergence: dict[str, list] = {"step": [], **{k: [] for k in tracked}}
    wall = 0.0
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as ckpt_dir:
        if accelerator is not None:  # every process resumes from the main one's folder
            from accelerate.utils import broadcast_object_list

            ckpt_dir = broadcast_object_list([ckpt_dir])[0]
        for end in ends:
            t0 = time.perf_counter()
            result = train(
                ldm.unet,
                loss_fn,
                (z0, labels),
                replace(cfg, steps=end),
                checkpoint_dir=ckpt_dir if len(ends) > 1 else None,
                resume=True,
                progress=progress,
                accelerator=accelerator,
            )
            wall += time.perf_counter() - t0
            if end < cfg.steps and is_main:
                m = measure(_ema_copy(ldm, result), recipe.convergence_steps)
                convergence["step"].append(end)
                for k in tracked:
                    convergence[k].append(m[k])
        if accelerator is not None:  # the folder outlives every process's last read
            accelerator.wait_for_everyone()
    if not is_main:
        return None
    ldm = _ema_copy(ldm, result)
    final = measure(ldm, recipe.eval_steps)
    if len(ends) > 1:
        m = measure(ldm, recipe.convergence_steps)
        convergence["step"].append(cfg.steps)
        for k in tracked:
            convergence[k].append(m[k])
    num_samples = 10 * EVAL_PER_CLASS
    card = {
        "kind": "latent_diffusion",
        "description": recipe.description,
        "autoencoder": recipe.autoencoder,
        **({"autoencoder_sha256": parent_sha} if parent_sha else {}),
        "config": {
            "unet": recipe.unet.to_dict(),
            "schedule": asdict(schedule),
            "scale_factor": scale_factor,
            "cond_drop_prob": recipe.cond_drop_prob,
            "prediction_type": ldm.prediction_type,  # what the UNet was trained to predict
            "image_size": 32,
        },
        "latent_std": round(latent_std, 5),
        "schedule_from_latents": recipe.schedule_from_latents,
        "data": {"dataset": "digits", "split": "train", "num_images": len(images)},
        **run_card(name, steps, command, cfg, result.losses, wall),
        "curves": {"every": CURVE_EVERY, "loss": curve(result.losses)},
        "metrics": {
            **final,
            "num_samples": num_samples,
            "guidance_scale": recipe.eval_guidance_scale,
            "sampler": "ddim",
            "num_inference_steps": recipe.eval_steps,
            "seed": EVAL_SEED,
        },
        **(
            {
                "convergence": {
                    **convergence,
                    "num_inference_steps": recipe.convergence_steps,
                    "num_samples": num_samples,
                }
            }
            if len(ends) > 1
            else {}
        ),
    }
    save_pretrained(ldm.unet, name, card, folder, overwrite=overwrite)
    return card
