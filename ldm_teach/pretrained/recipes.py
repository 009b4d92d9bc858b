"""The recipes that produce the shipped checkpoints: ``ldm-teach train NAME``.

Each recipe fixes the data, the model config, the training config and the seed, trains with
:func:`ldm_teach.training.train`, measures the model on held-out data, and saves fp16
weights plus a card recording all of it (including the exact command and the wall time).
Anyone can rerun a recipe and compare their card with the shipped one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig, autoencoder_kl_loss
from ldm_teach.device import default_device, seed_everything
from ldm_teach.pretrained.registry import (
    WEIGHTS_DIR,
    card_path,
    load_autoencoder,
    save_pretrained,
    weights_path,
)
from ldm_teach.training import TrainConfig, train


@dataclass(frozen=True)
class AutoencoderRecipe:
    data: str  # "digits" or "photos"
    config: AutoencoderKLConfig
    train: TrainConfig
    kl_weight: float = 1e-6  # weight of the KL term (LDM paper's value)
    image_size: int = 32  # H = W of the training images


@dataclass(frozen=True)
class LDMRecipe:
    autoencoder: str  # name of the shipped autoencoder whose latents are modelled
    unet: dict  # UNetConfig fields
    schedule: dict  # ScheduleConfig fields
    train: TrainConfig
    cond_drop_prob: float = 0.1  # label dropout for classifier-free guidance
    eval_guidance_scale: float = 2.0  # guidance used to measure the card's accuracy
    eval_steps: int = 50  # DDIM steps used for the card's measurements


def _small_kl_f4(data: str, in_channels: int) -> AutoencoderRecipe:
    """The course's small f = 4 KL autoencoder (32x32 -> 4x8x8), ~1M parameters."""
    return AutoencoderRecipe(
        data=data,
        config=AutoencoderKLConfig(
            in_channels=in_channels,
            base_channels=32,
            channel_mult=(1, 2, 2),
            num_res_blocks=1,
            latent_channels=4,
            norm_groups=16,
            mid_attention=True,
        ),
        train=TrainConfig(
            steps=2000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=None, seed=0
        ),
    )


AE_RECIPES: dict[str, AutoencoderRecipe] = {
    "digits-kl-f4": _small_kl_f4("digits", in_channels=1),
    "photos-kl-f4": _small_kl_f4("photos", in_channels=3),
}

LDM_RECIPES: dict[str, LDMRecipe] = {
    "digits-ldm": LDMRecipe(
        autoencoder="digits-kl-f4",
        unet=dict(
            in_channels=4,
            out_channels=4,
            base_channels=48,
            channel_mult=(1, 2),
            num_res_blocks=2,
            attention_levels=(1,),
            num_heads=4,
            num_classes=10,
            norm_groups=16,
        ),
        schedule=dict(
            num_train_timesteps=1000,
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
        ),
        train=TrainConfig(
            steps=3000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999, seed=0
        ),
    ),
}


def _refuse_to_overwrite(name: str, out_dir: Path | None, overwrite: bool) -> None:
    """Fail before training, not after, when the target checkpoint already exists."""
    if overwrite:
        return
    for path in (
        weights_path(name, out_dir or WEIGHTS_DIR),
        card_path(name, out_dir or WEIGHTS_DIR),
    ):
        if path.exists():
            raise FileExistsError(
                f"{path} already exists; pass --overwrite to replace it or --out-dir to "
                f"train a copy elsewhere"
            )


def _prepare(train_config: TrainConfig, steps: int | None) -> tuple[TrainConfig, torch.device]:
    """The recipe's train config (with ``steps`` overridden), seeded RNGs, and the device."""
    cfg = train_config if steps is None else TrainConfig(**{**asdict(train_config), "steps": steps})
    seed_everything(cfg.seed)
    return cfg, default_device()


def _final_loss(losses: list[float], window: int = 50) -> float:
    """Mean training loss over the last ``window`` steps, rounded for the card."""
    tail = losses[-window:]
    return round(sum(tail) / len(tail), 5)


def _default_command(name: str, steps: int | None) -> str:
    return f"ldm-teach train {name}" + (f" --steps {steps}" if steps is not None else "")


def _images(data: str, split: str, size: int) -> torch.Tensor:
    if data == "digits":
        from ldm_teach.data import DigitsDataset

        return DigitsDataset(split=split, size=size).images
    if data == "photos":
        from ldm_teach.data import photo_patches

        # overlapping patches (stride size/2) give the small photo set 4x more examples
        return photo_patches(
            split=split, patch_size=size, stride=size // 2 if split == "train" else size
        )
    raise ValueError(f"data must be 'digits' or 'photos', got {data!r}")


@torch.no_grad()
def evaluate_autoencoder(model: AutoencoderKL, images: torch.Tensor, batch: int = 256) -> dict:
    """Mean PSNR (dB) and SSIM of deterministic reconstructions, plus latent statistics."""
    from ldm_teach.metrics import psnr, ssim

    model.eval()
    recs, zs = [], []
    for i in range(0, len(images), batch):
        x = images[i : i + batch]
        post = model.encode(x)
        zs.append(post.mode())
        recs.append(model.decode(post.mode()).clamp(-1, 1))
    rec = torch.cat(recs)
    z = torch.cat(zs)
    return {
        "psnr_db": round(float(psnr(rec, images).mean()), 3),
        "ssim": round(float(ssim(rec, images).mean()), 4),
        "latent_mean": round(float(z.mean()), 4),
        "latent_std": round(float(z.std()), 4),
        "num_images": len(images),
    }


def train_autoencoder_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Run the autoencoder recipe ``name``; returns the card written.

    ``command`` is the command line recorded on the card (default: the equivalent
    ``ldm-teach train NAME [--steps N]``). Raises FileExistsError if the checkpoint exists
    in ``out_dir`` and ``overwrite`` is False.
    """
    recipe = AE_RECIPES[name]
    _refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = _prepare(recipe.train, steps)
    images = _images(recipe.data, "train", recipe.image_size).to(device)
    model = AutoencoderKL(recipe.config).to(device)

    def loss_fn(m, batch, gen):
        (x,) = batch
        loss, _ = autoencoder_kl_loss(m, x, recipe.kl_weight)
        return loss

    t0 = time.perf_counter()
    result = train(model, loss_fn, (images,), cfg, progress=progress)
    wall = time.perf_counter() - t0
    test = _images(recipe.data, "test", recipe.image_size).to(device)
    model = result.model.cpu()
    card = {
        "kind": "autoencoder_kl",
        "description": f"KL autoencoder trained on {recipe.data} (train split), f=4",
        "config": recipe.config.to_dict(),
        "data": {
            "dataset": recipe.data,
            "split": "train",
            "num_images": len(images),
            "image_size": recipe.image_size,
        },
        "train_config": asdict(cfg),
        "kl_weight": recipe.kl_weight,
        "steps": cfg.steps,
        "final_loss": _final_loss(result.losses),
        "wall_time_s": round(wall, 1),
        "command": command or _default_command(name, steps),
        "metrics_test": evaluate_autoencoder(model, test.cpu()),
        "torch_version": torch.__version__,
    }
    save_pretrained(model, name, card, out_dir or WEIGHTS_DIR, overwrite=overwrite)
    return card


def train_ldm_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Run the latent-diffusion recipe ``name`` (its autoencoder must exist in ``out_dir``);
    returns the card written. ``command`` and ``overwrite`` as for
    :func:`train_autoencoder_recipe`.
    """
    from ldm_teach.data import DigitsDataset
    from ldm_teach.diffusion import ScheduleConfig
    from ldm_teach.metrics import DigitsClassifier
    from ldm_teach.models import LatentDiffusion, UNet, UNetConfig, compute_scale_factor

    recipe = LDM_RECIPES[name]
    _refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = _prepare(recipe.train, steps)
    autoencoder = load_autoencoder(recipe.autoencoder, out_dir or WEIGHTS_DIR, device=device)
    train_set = DigitsDataset(split="train", size=32)
    images = train_set.images.to(device)
    labels = train_set.labels.to(device)
    scale_factor = compute_scale_factor(autoencoder, images)
    unet_cfg = UNetConfig(**recipe.unet)
    ldm = LatentDiffusion(
        autoencoder,
        UNet(unet_cfg),
        ScheduleConfig(**recipe.schedule),
        scale_factor,
        recipe.cond_drop_prob,
    ).to(device)
    z0 = ldm.encode(images)  # encode once: the autoencoder is frozen

    def loss_fn(unet, batch, gen):
        z, y = batch
        return ldm.loss(z, y, gen)

    t0 = time.perf_counter()
    result = train(ldm.unet, loss_fn, (z0, labels), cfg, progress=progress)
    wall = time.perf_counter() - t0
    if result.ema_model is not None:
        ldm.unet.load_state_dict(result.ema_model.state_dict())
    ldm = ldm.cpu().eval()

    # measure: conditional accuracy of the independent classifier on 100 samples
    gen = torch.Generator().manual_seed(1234)
    y = torch.arange(10).repeat_interleave(10)
    samples = ldm.sample(
        100,
        32,
        y,
        guidance_scale=recipe.eval_guidance_scale,
        num_inference_steps=recipe.eval_steps,
        generator=gen,
        progress=False,
    )
    acc = DigitsClassifier.fit_default().accuracy(samples, y)
    card = {
        "kind": "latent_diffusion",
        "description": "class-conditional LDM on digits (10 classes), classifier-free guidance",
        "autoencoder": recipe.autoencoder,
        "config": {
            "unet": unet_cfg.to_dict(),
            "schedule": dict(recipe.schedule),
            "scale_factor": scale_factor,
            "cond_drop_prob": recipe.cond_drop_prob,
            "prediction_type": "epsilon",
            "image_size": 32,
        },
        "data": {"dataset": "digits", "split": "train", "num_images": len(images)},
        "train_config": asdict(cfg),
        "steps": cfg.steps,
        "final_loss": _final_loss(result.losses),
        "wall_time_s": round(wall, 1),
        "command": command or _default_command(name, steps),
        "metrics": {
            "classifier_accuracy": round(acc, 4),
            "num_samples": 100,
            "guidance_scale": recipe.eval_guidance_scale,
            "sampler": "ddim",
            "num_inference_steps": recipe.eval_steps,
            "seed": 1234,
        },
        "torch_version": torch.__version__,
    }
    save_pretrained(ldm.unet, name, card, out_dir or WEIGHTS_DIR, overwrite=overwrite)
    return card
