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

from ldm_teach.autoencoders import VQVAE, AutoencoderKL, AutoencoderKLConfig, VQVAEConfig
from ldm_teach.device import default_device, seed_everything
from ldm_teach.metrics.features import FeatureDistance
from ldm_teach.pretrained.registry import (
    WEIGHTS_DIR,
    card_path,
    load_autoencoder,
    load_card,
    load_feature_net,
    save_pretrained,
    weights_path,
)
from ldm_teach.training import TrainConfig, train
from ldm_teach.training.checkpoint import check_output_dir


@dataclass(frozen=True)
class AutoencoderRecipe:
    data: str  # "digits" or "photos"
    config: AutoencoderKLConfig | VQVAEConfig  # KL or VQ autoencoder
    train: TrainConfig
    kl_weight: float = 1e-6  # weight of the KL term (LDM paper's value); KL models only
    image_size: int = 32  # H = W of the training images
    perceptual: str | None = None  # shipped feature net for a perceptual term, or None
    perceptual_weight: float = 0.0  # weight of that term (FeatureDistance per image)
    restart_every: int = 0  # VQ only: restart dead codes every this many steps (0: never)
    description: str = ""


@dataclass(frozen=True)
class FeatureNetRecipe:
    train: TrainConfig


@dataclass(frozen=True)
class LDMRecipe:
    autoencoder: str  # name of the shipped autoencoder whose latents are modelled
    unet: dict  # UNetConfig fields
    schedule: dict  # ScheduleConfig fields
    train: TrainConfig
    cond_drop_prob: float = 0.1  # label dropout for classifier-free guidance
    eval_guidance_scale: float = 2.0  # guidance used to measure the card's accuracy
    eval_steps: int = 50  # DDIM steps used for the card's measurements
    scale_factor: float | None = None  # None: 1/std of the training latents
    # None: use ``schedule`` as given. "chapter_heuristic": multiply beta_start and beta_end
    # by the std σ of the unscaled latents (the chapter's rule, Sec. 10.3.2); "std_shift":
    # shift the log-SNR by log(1/σ²) (diffusion/shift.py). Both are meant for scale_factor=1.
    schedule_from_latents: str | None = None
    eval_every: int = 0  # measure samples every this many steps (0: only at the end)
    convergence_steps: int = 25  # DDIM steps of those intermediate measurements
    description: str = "class-conditional LDM on digits (10 classes), classifier-free guidance"

    def __post_init__(self) -> None:
        if self.schedule_from_latents not in (None, "chapter_heuristic", "std_shift"):
            raise ValueError(
                "schedule_from_latents must be None, 'chapter_heuristic' or 'std_shift', "
                f"got {self.schedule_from_latents!r}"
            )
        if self.schedule_from_latents is not None and self.scale_factor != 1.0:
            raise ValueError(
                f"schedule_from_latents={self.schedule_from_latents!r} adapts the schedule to "
                "unscaled latents and needs scale_factor=1.0 (scaling them too would correct "
                f"twice), got scale_factor={self.scale_factor!r}"
            )
        if self.schedule_from_latents == "chapter_heuristic" and self.schedule.get(
            "beta_schedule", "linear"
        ) not in ("linear", "scaled_linear"):
            raise ValueError("the chapter's heuristic scales beta_start and beta_end: it needs "
                             "a 'linear' or 'scaled_linear' schedule")
        for name, low in (("eval_every", 0), ("eval_steps", 1), ("convergence_steps", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _f_mult(f: int) -> tuple[int, ...]:
    """channel_mult giving downsampling factor f (a power of two >= 2): (1, 2, 2, ...)."""
    levels = f.bit_length() - 1
    return (1,) + (2,) * levels


def _kl_config(in_channels: int, base_channels: int, f: int, latent_channels: int,
               norm_groups: int) -> AutoencoderKLConfig:
    """The course's KL autoencoders: one ResNet block per level, widths (1, 2, 2, ...) x
    base, self-attention in the middle; only width, f, c and the groups vary."""
    return AutoencoderKLConfig(
        in_channels=in_channels,
        base_channels=base_channels,
        channel_mult=_f_mult(f),
        num_res_blocks=1,
        latent_channels=latent_channels,
        norm_groups=norm_groups,
        mid_attention=True,
    )


def _ae_train(steps: int, warmup_steps: int = 100) -> TrainConfig:
    """Autoencoder training: AdamW at 1e-3, batch 32, no EMA, seed 0."""
    return TrainConfig(steps=steps, batch_size=32, lr=1e-3, warmup_steps=warmup_steps,
                       ema_decay=None, seed=0)


def _small_kl_f4(data: str, in_channels: int) -> AutoencoderRecipe:
    """The course's small f = 4 KL autoencoder (32x32 -> 4x8x8), ~1M parameters."""
    return AutoencoderRecipe(
        data=data,
        config=_kl_config(in_channels, 32, 4, 4, norm_groups=16),
        train=_ae_train(2000, warmup_steps=100),
        description=f"KL autoencoder trained on {data} (train split), f=4",
    )




def _rate_distortion(f: int, c: int) -> AutoencoderRecipe:
    """One point of the 10.2 rate-distortion sweep: a narrow (base 16) KL autoencoder on
    photo patches, 1500 steps, identical except for f and the latent channels c."""
    return AutoencoderRecipe(
        data="photos",
        config=_kl_config(3, 16, f, c, norm_groups=8),
        train=_ae_train(1500, warmup_steps=100),
        description=f"rate-distortion sweep: KL autoencoder on photo patches, f={f}, c={c}",
    )


def _digits_f8(perceptual: bool) -> AutoencoderRecipe:
    """A tight f = 8 digits autoencoder (32x32 -> 2x4x4, 32 numbers per digit), trained on
    pixels alone or with the course's feature distance: the semantic-preservation pair."""
    return AutoencoderRecipe(
        data="digits",
        config=_kl_config(1, 16, 8, 2, norm_groups=8),
        train=_ae_train(1500, warmup_steps=100),
        perceptual="digits-features" if perceptual else None,
        perceptual_weight=1.0 if perceptual else 0.0,
        description="KL autoencoder on digits, f=8, c=2, "
        + ("L1 + course feature distance" if perceptual else "L1 pixel loss only"),
    )


def _kl_sweep(kl_weight: float) -> AutoencoderRecipe:
    """One point of the 10.2 KL-weight sweep: a narrow f = 4 digits autoencoder, 600 steps."""
    return AutoencoderRecipe(
        data="digits",
        config=_kl_config(1, 16, 4, 4, norm_groups=8),
        train=_ae_train(600, warmup_steps=50),
        kl_weight=kl_weight,
        description=f"KL-weight sweep: digits autoencoder, f=4, kl_weight={kl_weight:g}",
    )


#: f and latent channels of the rate-distortion sweep (10.2.5).
RD_FACTORS = (2, 4, 8, 16)
RD_CHANNELS = (4, 8)
#: kl_weight values of the KL sweep (10.2.3).
KL_SWEEP = (0.0, 1e-6, 1e-5, 1e-4, 1e-3)


def rd_name(f: int, c: int) -> str:
    return f"photos-rd-f{f}-c{c}"


def kl_sweep_name(kl_weight: float) -> str:
    return f"digits-klw-{kl_weight:g}"


AE_RECIPES: dict[str, AutoencoderRecipe] = {
    "digits-kl-f4": _small_kl_f4("digits", in_channels=1),
    "photos-kl-f4": _small_kl_f4("photos", in_channels=3),
    "digits-vq-f4": AutoencoderRecipe(
        data="digits",
        config=VQVAEConfig(
            in_channels=1,
            base_channels=32,
            channel_mult=(1, 2, 2),
            num_res_blocks=1,
            norm_groups=16,
            mid_attention=True,
            num_codes=256,
            code_dim=4,
            commitment_cost=0.25,
        ),
        train=TrainConfig(
            steps=2000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=None, seed=0
        ),
        restart_every=200,
        description="VQ autoencoder trained on digits (train split), f=4, K=256 codes of D=4, "
        "same backbone and budget as digits-kl-f4",
    ),
    "digits-kl-f8": _digits_f8(perceptual=False),
    "digits-kl-f16": AutoencoderRecipe(
        data="digits",
        config=_kl_config(1, 16, 16, 8, norm_groups=8),
        train=_ae_train(1500, warmup_steps=100),
        description="KL autoencoder on digits, f=16, c=8 (2x2x8 = 32 numbers per digit), "
        "L1 pixel loss; stage 1 of the f=16 comparison LDM",
    ),
    "digits-kl-f8-perceptual": _digits_f8(perceptual=True),
    **{rd_name(f, c): _rate_distortion(f, c) for f in RD_FACTORS for c in RD_CHANNELS},
    **{kl_sweep_name(w): _kl_sweep(w) for w in KL_SWEEP},
}

FEATURE_RECIPES: dict[str, FeatureNetRecipe] = {
    "digits-features": FeatureNetRecipe(
        train=TrainConfig(steps=800, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=None)
    ),
}

#: Stable Diffusion's training schedule (scaled-linear betas 0.00085 -> 0.012, T = 1000).
SD_SCHEDULE = dict(
    num_train_timesteps=1000,
    beta_schedule="scaled_linear",
    beta_start=0.00085,
    beta_end=0.012,
)


def _digits_unet(in_channels: int, base_channels: int, norm_groups: int = 16, **extra) -> dict:
    """UNetConfig fields of the course's class-conditional digits UNets: two levels,
    attention at the lower one, 10 classes (+ the null label)."""
    return dict(
        in_channels=in_channels,
        out_channels=in_channels,
        base_channels=base_channels,
        channel_mult=(1, 2),
        num_res_blocks=2,
        attention_levels=(1,),
        num_heads=4,
        num_classes=10,
        norm_groups=norm_groups,
        **extra,
    )


LDM_RECIPES: dict[str, LDMRecipe] = {
    "digits-ldm": LDMRecipe(
        autoencoder="digits-kl-f4",
        unet=_digits_unet(4, 48),
        schedule=dict(SD_SCHEDULE),
        train=TrainConfig(
            steps=3000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999, seed=0
        ),
    ),
}


def _refuse_to_overwrite(name: str, out_dir: Path | None, overwrite: bool) -> None:
    """Fail before training, not after, when the checkpoint cannot be written: ``out_dir``
    is empty, a file or not writable (ValueError, NotADirectoryError, PermissionError), or
    the target checkpoint already exists (FileExistsError)."""
    folder = check_output_dir(WEIGHTS_DIR if out_dir is None else out_dir, what="out_dir")
    for path in (weights_path(name, folder), card_path(name, folder)):
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; it cannot be replaced by a file")
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


def _reconstruct(
    model: AutoencoderKL | VQVAE, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(deterministic reconstruction clamped to [-1, 1], latent) for a KL or VQ model."""
    if isinstance(model, VQVAE):
        z_q = model.quantize(model.encode(x)).z_q
        return model.decode(z_q).clamp(-1, 1), z_q
    z = model.encode(x).mode()
    return model.decode(z).clamp(-1, 1), z


@torch.no_grad()
def evaluate_autoencoder(
    model: AutoencoderKL | VQVAE, images: torch.Tensor, batch: int = 256
) -> dict:
    """Mean PSNR (dB) and SSIM of deterministic reconstructions, plus latent statistics
    (the posterior mode for KL models, the chosen codes for VQ models)."""
    from ldm_teach.metrics import psnr, ssim

    model.eval()
    recs, zs = [], []
    for i in range(0, len(images), batch):
        rec, z = _reconstruct(model, images[i : i + batch])
        recs.append(rec)
        zs.append(z)
    rec = torch.cat(recs)
    z = torch.cat(zs)
    return {
        "psnr_db": round(float(psnr(rec, images).mean()), 3),
        "ssim": round(float(ssim(rec, images).mean()), 4),
        "latent_mean": round(float(z.mean()), 4),
        "latent_std": round(float(z.std()), 4),
        "num_images": len(images),
    }


def _curve(values: list[float], every: int = 10) -> list[float]:
    """A training curve for the card: means of consecutive windows of ``every`` steps."""
    return [
        round(sum(values[i : i + every]) / len(values[i : i + every]), 5)
        for i in range(0, len(values), every)
    ]


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
    Raises FileExistsError if the checkpoint exists in ``out_dir`` and ``overwrite`` is
    False; FileNotFoundError if the recipe's feature net has not been trained yet;
    ValueError, NotADirectoryError, IsADirectoryError or PermissionError if ``out_dir`` is
    empty, a file, or not writable (all of these before training starts).
    """
    from ldm_teach.autoencoders import vq_vae_loss

    recipe = AE_RECIPES[name]
    _refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = _prepare(recipe.train, steps)
    images = _images(recipe.data, "train", recipe.image_size).to(device)
    is_vq = isinstance(recipe.config, VQVAEConfig)
    model = (VQVAE if is_vq else AutoencoderKL)(recipe.config).to(device)
    perceptual = (
        FeatureDistance(load_feature_net(recipe.perceptual, out_dir or WEIGHTS_DIR)).to(device)
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
            x_hat = None
        else:
            x_hat, posterior = m(x, sample_posterior=True, generator=gen)
            rec = (x - x_hat).abs().mean()
            loss = rec + recipe.kl_weight * posterior.kl().mean()
            parts = {"rec": float(rec.detach())}
        logs["rec"].append(parts["rec"])
        if perceptual is not None:
            p = perceptual(x, x_hat).mean()
            logs["perceptual"].append(float(p.detach()))
            loss = loss + recipe.perceptual_weight * p
        return loss

    t0 = time.perf_counter()
    result = train(model, loss_fn, (images,), cfg, progress=progress)
    wall = time.perf_counter() - t0
    test = _images(recipe.data, "test", recipe.image_size)
    model = result.model.cpu()
    if is_vq:  # measure codebook usage on the whole training set, then clear the counts
        model.quantizer.reset_usage()
        with torch.no_grad():
            for i in range(0, len(images), 256):
                model.quantizer(model.encode(images[i : i + 256].cpu()))
        usage = {"usage": round(model.quantizer.usage(), 4),
                 "perplexity": round(model.quantizer.perplexity(), 2)}
        model.quantizer.reset_usage()
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
        "train_config": asdict(cfg),
        "loss": {
            "reconstruction": "l1",
            "kl_weight": None if is_vq else recipe.kl_weight,
            "perceptual": recipe.perceptual,
            "perceptual_weight": recipe.perceptual_weight,
            "commitment_cost": recipe.config.commitment_cost if is_vq else None,
            "restart_dead_codes_every": recipe.restart_every if is_vq else None,
        },
        "kl_weight": None if is_vq else recipe.kl_weight,
        "steps": cfg.steps,
        "final_loss": _final_loss(result.losses),
        "curves": {
            "every": 10,
            "loss": _curve(result.losses),
            "rec": _curve(logs["rec"]),
            **({"perplexity": _curve(logs["perplexity"])} if is_vq else {}),
            **({"perceptual": _curve(logs["perceptual"])} if perceptual is not None else {}),
        },
        "wall_time_s": round(wall, 1),
        "command": command or _default_command(name, steps),
        "metrics_test": evaluate_autoencoder(model, test),
        **({"codebook_train": usage} if is_vq else {}),
        "torch_version": torch.__version__,
    }
    save_pretrained(model, name, card, out_dir or WEIGHTS_DIR, overwrite=overwrite)
    return card


def train_feature_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Train the course's perceptual feature network ``name`` (a digits classifier whose
    activations define :class:`~ldm_teach.metrics.features.FeatureDistance`); returns the
    card, which records its accuracy on the held-out digits. Arguments as for
    :func:`train_autoencoder_recipe`.
    """
    from ldm_teach.data import DigitsDataset
    from ldm_teach.metrics.features import train_digits_feature_net

    recipe = FEATURE_RECIPES[name]
    _refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = _prepare(recipe.train, steps)
    train_set, test_set = DigitsDataset("train", size=32), DigitsDataset("test", size=32)
    t0 = time.perf_counter()
    net, losses = train_digits_feature_net(
        train_set.images.to(device), train_set.labels.to(device), steps=cfg.steps,
        batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, progress=progress,
    )
    wall = time.perf_counter() - t0
    net = net.cpu()
    with torch.no_grad():
        acc = float((net(test_set.images).argmax(1) == test_set.labels).float().mean())
    card = {
        "kind": "feature_net",
        "description": "DigitsFeatureNet: a small digits CNN whose activations define the "
        "course's perceptual FeatureDistance (not LPIPS)",
        "config": {"widths": list(net.widths), "num_classes": 10},
        "data": {"dataset": "digits", "split": "train", "num_images": len(train_set)},
        "train_config": asdict(cfg),
        "steps": cfg.steps,
        "final_loss": _final_loss(losses),
        "wall_time_s": round(wall, 1),
        "command": command or _default_command(name, steps),
        "metrics_test": {"accuracy": round(acc, 4), "num_images": len(test_set)},
        "torch_version": torch.__version__,
    }
    save_pretrained(net, name, card, out_dir or WEIGHTS_DIR, overwrite=overwrite)
    return card


def _stage_one(name: str, out_dir: Path | None, device) -> torch.nn.Module:
    """The recipe's frozen stage 1: a shipped autoencoder, or the identity for "pixel"."""
    if name == "pixel":
        from ldm_teach.autoencoders.identity import IdentityAutoencoder

        return IdentityAutoencoder(1).to(device)
    return load_autoencoder(name, out_dir or WEIGHTS_DIR, device=device)


#: The linear schedule of DDPM (Ho et al. 2020, Sec. 4: beta 1e-4 -> 0.02, T = 1000).
DDPM_SCHEDULE = dict(
    num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02
)
#: The cosine schedule (Nichol & Dhariwal 2021, Eq. 17; beta clipped at 0.999).
COSINE_SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="cosine")


def _comparison_ldm(
    autoencoder: str,
    in_channels: int,
    schedule: dict | None = None,
    scale_factor: float | None = None,
    schedule_from_latents: str | None = None,
    what: str = "",
    **unet,
) -> LDMRecipe:
    """The Sec. 10.3 comparison family: one small UNet design (base width 16, 0.25M
    parameters) and one budget (1200 steps of batch 32, samples measured every 300 steps)
    on pixels or on the latents of the f = 4, 8, 16 digit autoencoders. Only the stage 1,
    the schedule, the latent scaling or the conditioning differs between members."""
    if scale_factor is None and autoencoder == "pixel":
        scale_factor = 1.0  # pixels in [-1, 1] are not rescaled
    return LDMRecipe(
        autoencoder=autoencoder,
        unet=_digits_unet(in_channels, 16, norm_groups=8, **unet),
        schedule=dict(schedule or SD_SCHEDULE),
        train=TrainConfig(
            steps=1200, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.995, seed=0
        ),
        scale_factor=scale_factor,
        schedule_from_latents=schedule_from_latents,
        eval_every=300,
        description=f"comparison LDM on {autoencoder} "
        + ("pixels" if autoencoder == "pixel" else "latents")
        + (f", class by {unet['class_conditioning']} at levels {unet['condition_levels']}"
           if "class_conditioning" in unet else "")
        + (f", {what}" if what else ""),
    )


LDM_RECIPES.update({
    # 10.3.5: f = 4, 8, 16 and pixels (the Stable Diffusion schedule, scaled latents)
    "digits-cmp-f4": _comparison_ldm("digits-kl-f4", 4),
    "digits-cmp-f8": _comparison_ldm("digits-kl-f8", 2),
    "digits-cmp-f16": _comparison_ldm("digits-kl-f16", 8),
    "digits-cmp-pixel": _comparison_ldm("pixel", 1),
    # 10.3.3: where the condition enters (cross-attention on the label token)
    "digits-xattn-fine": _comparison_ldm("digits-kl-f4", 4, class_conditioning="cross_attention",
                                         condition_levels=(0,)),
    "digits-xattn-coarse": _comparison_ldm("digits-kl-f4", 4, class_conditioning="cross_attention",
                                           condition_levels=(1,)),
    # 10.3.2 / 10.3.4: schedules on the f = 4 latents (digits-cmp-f4 is the scaled-linear one)
    "digits-sched-linear": _comparison_ldm("digits-kl-f4", 4, schedule=DDPM_SCHEDULE,
                                           what="DDPM linear schedule"),
    "digits-sched-cosine": _comparison_ldm("digits-kl-f4", 4, schedule=COSINE_SCHEDULE,
                                           what="cosine schedule"),
    "digits-sched-raw": _comparison_ldm("digits-kl-f4", 4, scale_factor=1.0,
                                        what="unscaled latents (no scale_factor)"),
    "digits-sched-heuristic": _comparison_ldm(
        "digits-kl-f4", 4, scale_factor=1.0, schedule_from_latents="chapter_heuristic",
        what="unscaled latents, betas times the latent std (the chapter's heuristic)"),
    "digits-sched-shift": _comparison_ldm(
        "digits-kl-f4", 4, scale_factor=1.0, schedule_from_latents="std_shift",
        what="unscaled latents, log-SNR shifted by log(1/std^2)"),
    # Hoogeboom et al. 2023: SD's schedule was tuned for 64x64 latents; these are 8x8, so
    # the resolution rule multiplies the SNR by (64 / 8)^2 = 64 (resolution_snr_scale(8, 64))
    "digits-sched-resolution": _comparison_ldm(
        "digits-kl-f4", 4, schedule={**SD_SCHEDULE, "snr_scale": 64.0},
        what="SNR x64, the resolution shift from SD's 64x64 latents to 8x8"),
})


def _latent_schedule(recipe: LDMRecipe, latent_std: float) -> dict:
    """The ScheduleConfig fields a recipe trains with, given the std σ of its unscaled
    latents: the recipe's schedule, adapted as ``schedule_from_latents`` says."""
    from ldm_teach.diffusion import ScheduleConfig

    schedule = dict(recipe.schedule)
    if recipe.schedule_from_latents == "chapter_heuristic":
        base = ScheduleConfig(**schedule)  # fills in defaults the recipe did not spell out
        schedule["beta_start"] = base.beta_start * latent_std
        schedule["beta_end"] = base.beta_end * latent_std
    elif recipe.schedule_from_latents == "std_shift":
        schedule["snr_scale"] = 1.0 / latent_std**2
    return schedule


@torch.no_grad()
def measure_ldm_samples(ldm, num_inference_steps: int, guidance_scale: float,
                        seed: int = 1234, per_class: int = 10, sampler: str = "ddim") -> dict:
    """Sample ``per_class`` digits of each class with DDIM (``num_inference_steps`` steps,
    guidance ``guidance_scale``, noise seeded by ``seed``; ``sampler="ddpm"`` uses all T
    ancestral steps instead) and measure them.

    Returns a dict: "classifier_accuracy" (the independent classifier, in [0, 1]),
    "frechet_distance" (on the course feature net against the 360 test digits; >= 0,
    lower is better), "within_class_diversity" (mean pairwise feature distance within a
    class) and "sampling_wall_s" (seconds). The model must be a 10-class digits LDM
    producing 32x32 images. The Fréchet distance is FID's (Heusel et al. 2017, arXiv:1706.08500)
    computed on the course's features instead of Inception's.

    Raises:
        ValueError: if per_class is not an int in [2, 200] or seed not an int in [0, 2**63),
            and as ``LatentDiffusion.sample`` does for bad steps, sampler or guidance.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or not 2 <= per_class <= 200:
        # one batch of 10 * per_class samples: 200 per class needs about 1.5 GB
        raise ValueError(f"per_class must be an int in [2, 200], got {per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    from ldm_teach.data import DigitsDataset
    from ldm_teach.metrics import DigitsClassifier
    from ldm_teach.metrics.samples import frechet_distance, within_class_diversity

    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(per_class)
    t0 = time.perf_counter()
    # DDPM runs all T steps: num_inference_steps is DDIM's only
    steps = {"num_inference_steps": num_inference_steps} if sampler == "ddim" else {}
    samples = ldm.sample(
        len(y), 32, y, guidance_scale=guidance_scale, sampler=sampler, generator=gen,
        progress=False, **steps,
    )
    sample_s = time.perf_counter() - t0
    test_images = DigitsDataset(split="test", size=32).images
    return {
        "classifier_accuracy": round(DigitsClassifier.fit_default().accuracy(samples, y), 4),
        "frechet_distance": round(frechet_distance(test_images, samples), 3),
        "within_class_diversity": round(within_class_diversity(samples, y), 4),
        "sampling_wall_s": round(sample_s, 2),
    }


def train_ldm_recipe(
    name: str,
    out_dir: Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Run the latent-diffusion recipe ``name`` (its autoencoder must exist in ``out_dir``);
    returns the card written. ``command``, ``overwrite`` and the errors as for
    :func:`train_autoencoder_recipe`. The card pins the SHA-256 of the autoencoder's
    weights (``autoencoder_sha256``), checked by
    :func:`~ldm_teach.pretrained.registry.check_autoencoder_pin`.

    The card records the loss curve (means of 10 steps), and, when the recipe sets
    ``eval_every``, a convergence curve: the EMA model's samples measured every
    ``eval_every`` steps (training runs in segments that resume from a checkpoint in a
    temporary folder, so the result equals one uninterrupted run).
    """
    import copy
    import tempfile
    from dataclasses import replace

    from ldm_teach.data import DigitsDataset
    from ldm_teach.diffusion import ScheduleConfig
    from ldm_teach.models import LatentDiffusion, UNet, UNetConfig, compute_scale_factor

    recipe = LDM_RECIPES[name]
    _refuse_to_overwrite(name, out_dir, overwrite)
    cfg, device = _prepare(recipe.train, steps)
    autoencoder = _stage_one(recipe.autoencoder, out_dir, device)
    # pinned now, when it is loaded (and verified): if the autoencoder is retrained while
    # this model trains, the card still names the one the latents came from
    parent_sha = (None if recipe.autoencoder == "pixel"
                  else load_card(recipe.autoencoder, out_dir or WEIGHTS_DIR)["sha256"])
    train_set = DigitsDataset(split="train", size=32)
    images = train_set.images.to(device)
    labels = train_set.labels.to(device)
    latent_std = 1.0 / compute_scale_factor(autoencoder, images)  # σ of the unscaled latents
    scale_factor = recipe.scale_factor or 1.0 / latent_std
    schedule = _latent_schedule(recipe, latent_std)
    unet_cfg = UNetConfig(**recipe.unet)
    ldm = LatentDiffusion(
        autoencoder,
        UNet(unet_cfg),
        ScheduleConfig(**schedule),
        scale_factor,
        recipe.cond_drop_prob,
    ).to(device)
    z0 = ldm.encode(images)  # encode once: the autoencoder is frozen

    def loss_fn(unet, batch, gen):
        z, y = batch
        return ldm.loss(z, y, gen)

    def ema_copy(result) -> LatentDiffusion:
        model = copy.deepcopy(ldm).cpu().eval()
        if result.ema_model is not None:
            model.unet.load_state_dict(result.ema_model.state_dict())
        return model

    # train, in segments of eval_every steps when the recipe tracks convergence
    every = recipe.eval_every if 0 < recipe.eval_every < cfg.steps else cfg.steps
    ends = list(range(every, cfg.steps, every)) + [cfg.steps]
    convergence: dict[str, list] = {"step": [], "classifier_accuracy": [],
                                    "frechet_distance": []}
    wall = 0.0
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as ckpt_dir:
        for end in ends:
            t0 = time.perf_counter()
            result = train(ldm.unet, loss_fn, (z0, labels), replace(cfg, steps=end),
                           checkpoint_dir=ckpt_dir if len(ends) > 1 else None,
                           resume=True, progress=progress)
            wall += time.perf_counter() - t0
            if end < cfg.steps:
                m = measure_ldm_samples(ema_copy(result), recipe.convergence_steps,
                                        recipe.eval_guidance_scale)
                convergence["step"].append(end)
                convergence["classifier_accuracy"].append(m["classifier_accuracy"])
                convergence["frechet_distance"].append(m["frechet_distance"])
    ldm = ema_copy(result)
    final = measure_ldm_samples(ldm, recipe.eval_steps, recipe.eval_guidance_scale)
    if len(ends) > 1:
        tracked = measure_ldm_samples(ldm, recipe.convergence_steps, recipe.eval_guidance_scale)
        convergence["step"].append(cfg.steps)
        convergence["classifier_accuracy"].append(tracked["classifier_accuracy"])
        convergence["frechet_distance"].append(tracked["frechet_distance"])
    card = {
        "kind": "latent_diffusion",
        "description": recipe.description,
        "autoencoder": recipe.autoencoder,
        **({"autoencoder_sha256": parent_sha} if parent_sha else {}),
        "config": {
            "unet": unet_cfg.to_dict(),
            "schedule": schedule,
            "scale_factor": scale_factor,
            "cond_drop_prob": recipe.cond_drop_prob,
            "prediction_type": ldm.prediction_type,  # what the UNet was trained to predict
            "image_size": 32,
        },
        "latent_std": round(latent_std, 5),
        "schedule_from_latents": recipe.schedule_from_latents,
        "data": {"dataset": "digits", "split": "train", "num_images": len(images)},
        "train_config": asdict(cfg),
        "steps": cfg.steps,
        "final_loss": _final_loss(result.losses),
        "curves": {"every": 10, "loss": _curve(result.losses)},
        "wall_time_s": round(wall, 1),
        "command": command or _default_command(name, steps),
        "metrics": {
            **final,
            "num_samples": 100,
            "guidance_scale": recipe.eval_guidance_scale,
            "sampler": "ddim",
            "num_inference_steps": recipe.eval_steps,
            "seed": 1234,
        },
        **(
            {"convergence": {**convergence, "num_inference_steps": recipe.convergence_steps,
                             "num_samples": 100}}
            if len(ends) > 1 else {}
        ),
        "torch_version": torch.__version__,
    }
    save_pretrained(ldm.unet, name, card, out_dir or WEIGHTS_DIR, overwrite=overwrite)
    return card
