"""The recipe tables of the shipped stage-1 networks: the course's feature network and its
KL and VQ autoencoders (Sec. 10.1, 10.2, and the shapes autoencoder of 10.4), one entry per
``ldm-teach train NAME``.

Each recipe fixes the data, the model config, the training config and the seed of one
checkpoint; :mod:`ldm_teach.pretrained.trainers` runs it. The autoencoders follow the LDM
paper's first stage (Rombach et al. 2022, arXiv:2112.10752, Sec. 3.1 and Appendix G: a
KL-regularised autoencoder with kl_weight 1e-6, or a VQ one) at the course's small scale.
Tables, in training order: :data:`FEATURE_RECIPES`, :data:`AE_RECIPES` (with the 10.2
sweeps over f and c, :data:`RD_FACTORS` x :data:`RD_CHANNELS`, and over the KL weight,
:data:`KL_SWEEP`). All names are re-exported by :mod:`ldm_teach.pretrained.recipes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ldm_teach.autoencoders import AutoencoderKLConfig, VQVAEConfig
from ldm_teach.training import TrainConfig


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
