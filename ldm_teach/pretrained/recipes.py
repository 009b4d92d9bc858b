"""The recipe tables behind the shipped checkpoints: one entry per ``ldm-teach train NAME``.

Each recipe fixes the data, the model config, the training config and the seed of one
checkpoint; :mod:`ldm_teach.pretrained.trainers` runs it, measures the model on held-out
data and writes fp16 weights plus a card. The registry's list of names
(:data:`~ldm_teach.pretrained.registry.REGISTRY`) is read from these tables, so a new
checkpoint is one new entry here (and one line in the Makefile's ``WEIGHTS``).

Tables, in training order: :data:`FEATURE_RECIPES` (the course feature network),
:data:`AE_RECIPES` (KL and VQ autoencoders, the 10.2 sweeps), :data:`LDM_RECIPES` (the
reference LDM and the 10.3 comparison family).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ldm_teach.argcheck import check_int
from ldm_teach.autoencoders import AutoencoderKLConfig, VQVAEConfig
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.models import UNetConfig
from ldm_teach.pretrained import text_recipes
from ldm_teach.training import TrainConfig

#: Stage-1 names that are no checkpoint: pixels as they are (the identity), and pixels
#: average-pooled 2x2 then folded into 4 x 8 x 8 (information compression, Sec. 10.1).
FIXED_STAGE_ONE = ("pixel", "pooled-pixels")

#: How a latent-diffusion recipe adapts its schedule to the std σ of unscaled latents.
SCHEDULE_ADAPTATIONS = (None, "chapter_heuristic", "std_shift")


@dataclass(frozen=True)
class AutoencoderRecipe:
    summary: str  # one line for the registry listing
    data: str  # "digits" or "photos"
    config: AutoencoderKLConfig | VQVAEConfig  # KL or VQ autoencoder
    train: TrainConfig
    kl_weight: float = 1e-6  # weight of the KL term (LDM paper's value); KL models only
    image_size: int = 32  # H = W of the training images
    perceptual: str | None = None  # shipped feature net for a perceptual term, or None
    perceptual_weight: float = 0.0  # weight of that term (FeatureDistance per image)
    restart_every: int = 0  # VQ only: restart dead codes every this many steps (0: never)
    description: str = ""  # the card's description


@dataclass(frozen=True)
class FeatureNetRecipe:
    summary: str
    train: TrainConfig
    description: str = (
        "DigitsFeatureNet: a small digits CNN whose activations define the "
        "course's perceptual FeatureDistance (not LPIPS)"
    )


@dataclass(frozen=True)
class LDMRecipe:
    summary: str
    autoencoder: str  # the shipped autoencoder whose latents are modelled, or FIXED_STAGE_ONE
    unet: UNetConfig
    schedule: ScheduleConfig
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
        _check_ldm_recipe(self)


def _check_ldm_recipe(recipe: LDMRecipe) -> None:
    """ValueError (TypeError for a config of the wrong type) naming the field at fault."""
    for name, kind in (("unet", UNetConfig), ("schedule", ScheduleConfig), ("train", TrainConfig)):
        if not isinstance(getattr(recipe, name), kind):
            raise TypeError(
                f"{name} must be a {kind.__name__}, got {type(getattr(recipe, name)).__name__}"
            )
    adapt = recipe.schedule_from_latents
    if adapt not in SCHEDULE_ADAPTATIONS:
        raise ValueError(
            f"schedule_from_latents must be None, 'chapter_heuristic' or 'std_shift', got {adapt!r}"
        )
    if adapt is not None and recipe.scale_factor != 1.0:
        raise ValueError(
            f"schedule_from_latents={adapt!r} adapts the schedule to "
            "unscaled latents and needs scale_factor=1.0 (scaling them too would correct "
            f"twice), got scale_factor={recipe.scale_factor!r}"
        )
    if adapt == "chapter_heuristic" and recipe.schedule.beta_schedule not in (
        "linear",
        "scaled_linear",
    ):
        raise ValueError(
            "the chapter's heuristic scales beta_start and beta_end: it needs "
            "a 'linear' or 'scaled_linear' schedule"
        )
    for name, low in (("eval_every", 0), ("eval_steps", 1), ("convergence_steps", 1)):
        check_int(getattr(recipe, name), name, low)


# --- autoencoders (Sec. 10.1, 10.2) ---------------------------------------------------------


def _f_mult(f: int) -> tuple[int, ...]:
    """channel_mult giving downsampling factor f (a power of two >= 2): (1, 2, 2, ...)."""
    levels = f.bit_length() - 1
    return (1,) + (2,) * levels


def _kl_config(
    in_channels: int, base_channels: int, f: int, latent_channels: int, norm_groups: int
) -> AutoencoderKLConfig:
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
    return TrainConfig(
        steps=steps, batch_size=32, lr=1e-3, warmup_steps=warmup_steps, ema_decay=None, seed=0
    )


def _small_kl_f4(data: str, in_channels: int, summary: str) -> AutoencoderRecipe:
    """The course's small f = 4 KL autoencoder (32x32 -> 4x8x8), ~1M parameters."""
    return AutoencoderRecipe(
        summary=summary,
        data=data,
        config=_kl_config(in_channels, 32, 4, 4, norm_groups=16),
        train=_ae_train(2000, warmup_steps=100),
        description=f"KL autoencoder trained on {data} (train split), f=4",
    )


def _rate_distortion(f: int, c: int) -> AutoencoderRecipe:
    """One point of the 10.2 rate-distortion sweep: a narrow (base 16) KL autoencoder on
    photo patches, 1500 steps, identical except for f and the latent channels c."""
    return AutoencoderRecipe(
        summary=f"rate-distortion sweep, photo patches, f={f}, c={c} (base 16)",
        data="photos",
        config=_kl_config(3, 16, f, c, norm_groups=8),
        train=_ae_train(1500, warmup_steps=100),
        description=f"rate-distortion sweep: KL autoencoder on photo patches, f={f}, c={c}",
    )


def _digits_f8(perceptual: bool) -> AutoencoderRecipe:
    """A tight f = 8 digits autoencoder (32x32 -> 2x4x4, 32 numbers per digit), trained on
    pixels alone or with the course's feature distance: the semantic-preservation pair."""
    return AutoencoderRecipe(
        summary=(
            "as digits-kl-f8, trained with L1 + FeatureDistance"
            if perceptual
            else "KL autoencoder, 1x32x32 digits -> 2x4x4 latents (f=8), L1 only"
        ),
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
        summary=f"KL-weight sweep, digits, f=4 (base 16), kl_weight={kl_weight:g}",
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
    """Checkpoint name of the rate-distortion sweep's point (f, c)."""
    return f"photos-rd-f{f}-c{c}"


def kl_sweep_name(kl_weight: float) -> str:
    """Checkpoint name of the KL sweep's point ``kl_weight``."""
    return f"digits-klw-{kl_weight:g}"


FEATURE_RECIPES: dict[str, FeatureNetRecipe] = {
    "digits-features": FeatureNetRecipe(
        summary="DigitsFeatureNet, the course's perceptual feature network (not LPIPS)",
        train=TrainConfig(steps=800, batch_size=64, lr=2e-3, warmup_steps=50, ema_decay=None),
    ),
}

AE_RECIPES: dict[str, AutoencoderRecipe] = {
    "digits-kl-f4": _small_kl_f4(
        "digits", 1, "KL autoencoder, 1x32x32 digits -> 4x8x8 latents (f=4)"
    ),
    "photos-kl-f4": _small_kl_f4(
        "photos", 3, "KL autoencoder, 3x32x32 photo patches -> 4x8x8 latents (f=4)"
    ),
    # 10.4: stage 1 of the text-to-image models (narrow: flat colours on black are easy)
    "shapes-kl-f4": AutoencoderRecipe(
        summary="KL autoencoder, 3x32x32 captioned shapes -> 4x8x8 latents (f=4)",
        data="shapes",
        config=replace(_kl_config(3, 16, 4, 4, norm_groups=8), mid_attention=False),
        # the shapes cover ~4% of the pixels: L1 learns the black background first, the
        # colours only later (at 1500 steps green still decoded grey), hence 4000 steps
        train=_ae_train(4000, warmup_steps=100),
        description="KL autoencoder trained on captioned shapes (training combinations), f=4",
    ),
    "digits-vq-f4": AutoencoderRecipe(
        summary="VQ autoencoder, 1x32x32 digits -> 8x8 codes of 256 (f=4)",
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
        train=_ae_train(2000, warmup_steps=100),
        restart_every=200,
        description="VQ autoencoder trained on digits (train split), f=4, K=256 codes of D=4, "
        "same backbone and budget as digits-kl-f4",
    ),
    "digits-kl-f8": _digits_f8(perceptual=False),
    "digits-kl-f8-perceptual": _digits_f8(perceptual=True),
    "digits-kl-f16": AutoencoderRecipe(
        summary="KL autoencoder, 1x32x32 digits -> 8x2x2 latents (f=16)",
        data="digits",
        config=_kl_config(1, 16, 16, 8, norm_groups=8),
        train=_ae_train(1500, warmup_steps=100),
        description="KL autoencoder on digits, f=16, c=8 (2x2x8 = 32 numbers per digit), "
        "L1 pixel loss; stage 1 of the f=16 comparison LDM",
    ),
    **{rd_name(f, c): _rate_distortion(f, c) for f in RD_FACTORS for c in RD_CHANNELS},
    **{kl_sweep_name(w): _kl_sweep(w) for w in KL_SWEEP},
}


# --- latent diffusion (Sec. 10.3) ----------------------------------------------------------

#: Stable Diffusion's training schedule (scaled-linear betas 0.00085 -> 0.012, T = 1000).
SD_SCHEDULE = ScheduleConfig(
    num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012
)
#: The linear schedule of DDPM (Ho et al. 2020, Sec. 4: beta 1e-4 -> 0.02, T = 1000).
DDPM_SCHEDULE = ScheduleConfig(
    num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02
)
#: The cosine schedule (Nichol & Dhariwal 2021, Eq. 17; beta clipped at 0.999).
COSINE_SCHEDULE = ScheduleConfig(num_train_timesteps=1000, beta_schedule="cosine")


def _digits_unet(
    in_channels: int, base_channels: int, norm_groups: int = 16, **extra
) -> UNetConfig:
    """The course's class-conditional digits UNets: two levels, attention at the lower one,
    10 classes (+ the null label)."""
    return UNetConfig(
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


def _comparison_ldm(
    summary: str,
    autoencoder: str,
    in_channels: int,
    schedule: ScheduleConfig = SD_SCHEDULE,
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
        scale_factor = 1.0  # pixels in [-1, 1] are not rescaled (pooled pixels: 1 / std)
    return LDMRecipe(
        summary=summary,
        autoencoder=autoencoder,
        unet=_digits_unet(in_channels, 16, norm_groups=8, **unet),
        schedule=schedule,
        train=TrainConfig(
            steps=1200, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.995, seed=0
        ),
        scale_factor=scale_factor,
        schedule_from_latents=schedule_from_latents,
        eval_every=300,
        description=f"comparison LDM on {autoencoder} "
        + (
            {"pixel": "pixels", "pooled-pixels": "2x2-pooled pixels folded to 4x8x8"}.get(
                autoencoder, "latents"
            )
        )
        + (
            f", class by {unet['class_conditioning']} at levels {unet['condition_levels']}"
            if "class_conditioning" in unet
            else ""
        )
        + (f", {what}" if what else ""),
    )


LDM_RECIPES: dict[str, LDMRecipe] = {
    "digits-ldm": LDMRecipe(
        summary="class-conditional latent diffusion UNet on digits-kl-f4 latents",
        autoencoder="digits-kl-f4",
        unet=_digits_unet(4, 48),
        schedule=SD_SCHEDULE,
        train=TrainConfig(
            steps=3000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999, seed=0
        ),
    ),
    # 10.3.5: f = 4, 8, 16 and pixels (the Stable Diffusion schedule, scaled latents)
    "digits-cmp-f4": _comparison_ldm(
        "comparison LDM on digits-kl-f4 latents (4x8x8)", "digits-kl-f4", 4
    ),
    "digits-cmp-f8": _comparison_ldm(
        "comparison LDM on digits-kl-f8 latents (2x4x4)", "digits-kl-f8", 2
    ),
    "digits-cmp-f16": _comparison_ldm(
        "comparison LDM on digits-kl-f16 latents (8x2x2)", "digits-kl-f16", 8
    ),
    "digits-cmp-pixel": _comparison_ldm(
        "comparison diffusion model on the 1x32x32 pixels", "pixel", 1
    ),
    # 10.1 / 10.3.5: the chapter's central claim, perceptual vs information compression: the
    # same UNet and budget as digits-cmp-f4 on 2x2-pooled pixels of the same 4x8x8 shape
    "digits-cmp-pool": _comparison_ldm(
        "comparison LDM on 2x2-pooled pixels folded to 4x8x8 (no autoencoder)", "pooled-pixels", 4
    ),
    # 10.3.3: where the condition enters (cross-attention on the label token)
    "digits-xattn-fine": _comparison_ldm(
        "comparison LDM, label by cross-attention at the 8x8 level only",
        "digits-kl-f4",
        4,
        class_conditioning="cross_attention",
        condition_levels=(0,),
    ),
    "digits-xattn-coarse": _comparison_ldm(
        "comparison LDM, label by cross-attention at the 4x4 level + middle",
        "digits-kl-f4",
        4,
        class_conditioning="cross_attention",
        condition_levels=(1,),
    ),
    # 10.3.2 / 10.3.4: schedules on the f = 4 latents (digits-cmp-f4 is the scaled-linear one)
    "digits-sched-linear": _comparison_ldm(
        "comparison LDM on digits-kl-f4 latents, DDPM linear schedule",
        "digits-kl-f4",
        4,
        schedule=DDPM_SCHEDULE,
        what="DDPM linear schedule",
    ),
    "digits-sched-cosine": _comparison_ldm(
        "comparison LDM on digits-kl-f4 latents, cosine schedule",
        "digits-kl-f4",
        4,
        schedule=COSINE_SCHEDULE,
        what="cosine schedule",
    ),
    "digits-sched-raw": _comparison_ldm(
        "comparison LDM on unscaled digits-kl-f4 latents (no scale_factor)",
        "digits-kl-f4",
        4,
        scale_factor=1.0,
        what="unscaled latents (no scale_factor)",
    ),
    "digits-sched-heuristic": _comparison_ldm(
        "unscaled latents, betas times the latent std (chapter)",
        "digits-kl-f4",
        4,
        scale_factor=1.0,
        schedule_from_latents="chapter_heuristic",
        what="unscaled latents, betas times the latent std (the chapter's heuristic)",
    ),
    "digits-sched-shift": _comparison_ldm(
        "unscaled latents, log-SNR shifted by log(1/std^2)",
        "digits-kl-f4",
        4,
        scale_factor=1.0,
        schedule_from_latents="std_shift",
        what="unscaled latents, log-SNR shifted by log(1/std^2)",
    ),
    # Hoogeboom et al. 2023: SD's schedule was tuned for 64x64 latents; these are 8x8, so
    # the resolution rule multiplies the SNR by (64 / 8)^2 = 64 (resolution_snr_scale(8, 64))
    "digits-sched-resolution": _comparison_ldm(
        "comparison LDM, SD schedule with SNR x64 (8x8 vs 64x64 latents)",
        "digits-kl-f4",
        4,
        schedule=replace(SD_SCHEDULE, snr_scale=64.0),
        what="SNR x64, the resolution shift from SD's 64x64 latents to 8x8",
    ),
}


def all_recipes() -> dict:
    """Every recipe by name, in an order in which each one's inputs are trained first
    (the 10.4 tables of :mod:`ldm_teach.pretrained.text_recipes` last)."""
    return {
        **FEATURE_RECIPES,
        **AE_RECIPES,
        **LDM_RECIPES,
        **text_recipes.JUDGE_RECIPES,
        **text_recipes.CLIP_RECIPES,
        **text_recipes.T2I_RECIPES,
    }
