"""Adversarial training of a KL autoencoder: the two-player loop of VQGAN / LDM stage 1
(Esser et al. 2021, arXiv:2012.09841, Sec. 3.2; Rombach et al. 2022, Sec. 3.1).

Each step, with batches and noise seeded by (seed, step):

1. generator (autoencoder) step on L_G of :class:`ldm_teach.autoencoders.AutoencoderLoss`:
   reconstruction + perceptual + kl_weight * KL + disc_factor * lambda * L_adv, where
   lambda is the adaptive weight at the decoder's last layer (VQGAN Eq. 7);
2. discriminator step on disc_factor * L_D (hinge or non-saturating) with D(x) and
   D(x_hat.detach()), optionally plus ``r1_weight`` * R1 penalty on real images.

disc_factor is 0 before ``disc_start`` (the delayed start), so the first steps train a
plain autoencoder. This is the one loop the course uses for the GAN stage; the
autoencoder-only loop is :func:`ldm_teach.training.train`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ldm_teach.argcheck import check_bool, check_real, is_int
from ldm_teach.autoencoders.gradient_penalties import r1_gradient_penalty
from ldm_teach.autoencoders.kl_vae import AutoencoderKL
from ldm_teach.autoencoders.losses import AutoencoderLoss


@dataclass
class AdversarialResult:
    """What :func:`train_autoencoder_adversarial` returns: the trained modules (trained in
    place) and one dict of floats per step (the generator logs, then "d_loss",
    "logits_real", "logits_fake" and "r1")."""

    autoencoder: AutoencoderKL
    discriminator: nn.Module
    logs: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0


def train_autoencoder_adversarial(
    autoencoder: AutoencoderKL,
    discriminator: nn.Module,
    loss: AutoencoderLoss,
    images: Tensor,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    disc_lr: float | None = None,
    r1_weight: float = 0.0,
    perceptual_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> AdversarialResult:
    """Alternate autoencoder and discriminator steps (Adam, betas (0.5, 0.9) as in taming).

    Args:
        autoencoder: the KL autoencoder to train (its ``decoder.conv_out.weight`` is w_L).
        discriminator: e.g. :class:`ldm_teach.autoencoders.PatchDiscriminator`.
        loss: the composed loss and its config (``disc_start``, weights, hinge or not).
        images: (N, C, H, W) training images in [-1, 1].
        steps: number of (generator, discriminator) step pairs, >= 1.
        batch_size: images per step, >= 1.
        lr, disc_lr: learning rates (disc_lr defaults to lr), > 0.
        r1_weight: weight of the R1 penalty on D (0: off), >= 0.
        perceptual_fn: (x, x_hat) -> per-image distance; required when the loss's
            ``perceptual_weight`` > 0.
        seed: seeds batches and the posterior samples.
        progress: show a tqdm bar.
    Returns:
        an :class:`AdversarialResult`.
    Raises:
        ValueError: for steps or batch_size < 1, non-positive learning rates, negative
            r1_weight, or images that are not (N, C, H, W) with N >= 1.
    """
    if not isinstance(images, Tensor):
        raise ValueError(f"images must be one (N, C, H, W) tensor, got {type(images).__name__}")
    if not is_int(steps) or not is_int(batch_size):
        raise ValueError(f"steps and batch_size must be ints, got {steps!r} and {batch_size!r}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    disc_lr = lr if disc_lr is None else disc_lr
    if not (lr > 0 and disc_lr > 0):
        raise ValueError(f"lr and disc_lr must be positive, got {lr} and {disc_lr}")
    check_real(r1_weight, "r1_weight", 0.0, expected=">= 0")
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"images must be a non-empty (N, C, H, W) tensor, got {tuple(images.shape)}"
        )
    if not bool(torch.isfinite(images).all()) or float(images.abs().max()) > 1.001:
        raise ValueError("images must be finite and in [-1, 1]")
    if loss.config.perceptual_weight > 0 and perceptual_fn is None:
        raise ValueError(
            f"the loss has perceptual_weight={loss.config.perceptual_weight}: pass "
            f"perceptual_fn (e.g. FeatureDistance or LPIPSMetric) or set it to 0"
        )
    opt_g = torch.optim.Adam(autoencoder.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=disc_lr, betas=(0.5, 0.9))
    w_last = autoencoder.decoder.conv_out.weight
    logs: list[dict[str, float]] = []
    autoencoder.train()
    discriminator.train()
    t0 = time.perf_counter()
    progress = check_bool(progress, "progress")
    for step in tqdm(range(steps), disable=not progress, desc="train (GAN)"):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen)
        x = images[idx.to(images.device)]
        # 1. generator step
        x_hat, posterior = autoencoder(x, sample_posterior=True, generator=gen)
        loss_g, log = loss.generator_loss(
            x, x_hat, posterior.kl(), discriminator(x_hat), w_last, step, perceptual_fn
        )
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # 2. discriminator step (its gradients from step 1 are discarded here)
        opt_d.zero_grad(set_to_none=True)
        loss_d, log_d = loss.discriminator_loss(
            discriminator(x), discriminator(x_hat.detach()), step
        )
        r1 = torch.zeros(())
        if r1_weight > 0 and log_d["disc_factor"] > 0:
            r1 = r1_gradient_penalty(discriminator, x)
            loss_d = loss_d + r1_weight * r1
        if log_d["disc_factor"] > 0:
            loss_d.backward()
            opt_d.step()
        logs.append({**log, **log_d, "r1": float(r1.detach())})
    autoencoder.eval()
    discriminator.eval()
    return AdversarialResult(autoencoder, discriminator, logs, time.perf_counter() - t0)
