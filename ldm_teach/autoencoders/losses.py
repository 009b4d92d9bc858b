"""Losses of the first-stage autoencoder: reconstruction, perceptual, KL and adversarial
(Rombach et al. 2022, arXiv:2112.10752, Sec. 3.1 and App. G; Esser et al. 2021 "VQGAN",
arXiv:2012.09841, Sec. 3.2, Eq. 5-7).

The autoencoder (generator G = decoder of E) is trained on

    L_G = L_rec + perceptual_weight * L_LPIPS + kl_weight * KL
          + disc_factor(step) * lambda * L_adv,                        (VQGAN Eq. 5-6)

    lambda = disc_weight * ||grad_{w_L} L_rec'|| / (||grad_{w_L} L_adv|| + eps),   (Eq. 7)

where w_L is the weight of the decoder's last layer and L_rec' = L_rec + perceptual term.
The adaptive weight lambda balances the two gradients that reach the decoder's output,
so neither the GAN term nor the reconstruction drowns the other. The discriminator D is
trained in alternation on L_D, and both adversarial terms are off until ``disc_start``
(``disc_factor`` = 0 before, 1 after), so that D first meets reasonable reconstructions.

The adversarial losses (hinge or non-saturating), lambda and ``disc_factor`` are in
:mod:`ldm_teach.autoencoders.adversarial_losses`, the R1 and WGAN-GP penalties on D in
:mod:`ldm_teach.autoencoders.gradient_penalties`; both are re-exported here.

Reduction convention: reconstruction and perceptual terms are means over pixels and batch
(as in taming's VQGAN loss and :func:`ldm_teach.autoencoders.kl_vae.autoencoder_kl_loss`);
the KL is summed over latent elements and averaged over the batch. The LDM reference code
instead *sums* the reconstruction over pixels, so its kl_weight = 1e-6 weighs the KL
C*H*W times less, relative to reconstruction, than the same number does here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ldm_teach.argcheck import is_int, is_real
from ldm_teach.autoencoders.adversarial_losses import (
    DISC_LOSSES,
    adaptive_weight,
    discriminator_factor,
    hinge_d_loss,
    hinge_g_loss,
    non_saturating_d_loss,
    non_saturating_g_loss,
)
from ldm_teach.autoencoders.gradient_penalties import (  # noqa: F401  (losses' API too)
    r1_gradient_penalty,
    wgan_gradient_penalty,
)
from ldm_teach.autoencoders.input_checks import check_float

REC_KINDS = ("l1", "l2")


# ---- reconstruction ----------------------------------------------------------------------


def reconstruction_loss(x: Tensor, x_hat: Tensor, kind: str = "l1") -> Tensor:
    """Pixel reconstruction loss, mean over all elements.

    Args:
        x: target images (B, C, H, W), float, in [-1, 1].
        x_hat: reconstructions, same shape as x.
        kind: ``"l1"``: mean |x - x_hat| (LDM, VQGAN); ``"l2"``: mean (x - x_hat)^2.
    Returns:
        scalar loss tensor. x and x_hat may differ in float dtype (e.g. a bfloat16 x_hat
        under autocast); the difference is taken in the promoted dtype.
    Raises:
        ValueError: if x or x_hat is not a non-empty float tensor (integer images, e.g.
            uint8 in [0, 255], are refused), shapes differ, or ``kind`` is unknown.
    """
    check_float("x", x)
    check_float("x_hat", x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    if kind == "l1":
        return (x - x_hat).abs().mean()
    if kind == "l2":
        return (x - x_hat).pow(2).mean()
    raise ValueError(f"kind must be one of {REC_KINDS}, got {kind!r}")


# ---- the composed loss -------------------------------------------------------------------


@dataclass(frozen=True)
class AutoencoderLossConfig:
    """Weights of the autoencoder loss; defaults are those of the LDM KL-f configs
    (``kl-f*.yaml``: kl_weight 1e-6, disc_weight 0.5, disc_start 50001, LPIPS weight 1).

    Raises ValueError at construction if a weight is negative or not finite, disc_start is
    not a non-negative int, or a name is unknown.
    """

    kl_weight: float = 1e-6  # weight of KL(q(z|x) || N(0, I)), per image, summed over z
    perceptual_weight: float = 1.0  # weight of the perceptual (LPIPS) distance
    disc_weight: float = 0.5  # multiplies the adaptive weight lambda of Eq. 7
    disc_start: int = 50001  # first step at which the adversarial terms are on
    disc_loss: str = "hinge"  # "hinge" or "non_saturating"
    rec_kind: str = "l1"  # "l1" or "l2" pixel reconstruction

    def __post_init__(self) -> None:
        for name in ("kl_weight", "perceptual_weight", "disc_weight"):
            value = getattr(self, name)
            if not is_real(value) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not is_int(self.disc_start):
            raise ValueError(f"disc_start must be an int, got {self.disc_start!r}")
        if self.disc_start < 0:
            raise ValueError(f"disc_start must be >= 0, got {self.disc_start}")
        if self.disc_loss not in DISC_LOSSES:
            raise ValueError(f"disc_loss must be one of {DISC_LOSSES}, got {self.disc_loss!r}")
        if self.rec_kind not in REC_KINDS:
            raise ValueError(f"rec_kind must be one of {REC_KINDS}, got {self.rec_kind!r}")


class AutoencoderLoss:
    """The two losses of one adversarial autoencoder step: :meth:`generator_loss` for the
    autoencoder, :meth:`discriminator_loss` for D. It holds no parameters.

    A training step, in outline::

        x_hat, posterior = vae(x)
        loss_g, logs = loss_fn.generator_loss(x, x_hat, posterior.kl(), disc(x_hat),
                                              vae.decoder.conv_out.weight, step, lpips)
        # ... backward, step the autoencoder's optimiser ...
        loss_d, logs_d = loss_fn.discriminator_loss(disc(x.detach()),
                                                    disc(x_hat.detach()), step)
        # ... backward, step D's optimiser ...
    """

    def __init__(self, cfg: AutoencoderLossConfig) -> None:
        self.config = cfg
        if cfg.disc_loss == "hinge":
            self.d_loss_fn, self.g_loss_fn = hinge_d_loss, hinge_g_loss
        else:
            self.d_loss_fn, self.g_loss_fn = non_saturating_d_loss, non_saturating_g_loss

    def generator_loss(
        self,
        x: Tensor,
        x_hat: Tensor,
        posterior_kl: Tensor,
        logits_fake: Tensor,
        last_layer_weight: Tensor,
        step: int,
        perceptual_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """L_G = L_rec + perceptual_weight * L_p + kl_weight * KL + disc_factor * lambda * L_adv.

        Args:
            x: images (B, C, H, W) in [-1, 1].
            x_hat: reconstructions, same shape, still attached to the autoencoder's graph.
            posterior_kl: KL per image, (B,) (``posterior.kl()``), averaged here.
            logits_fake: D(x_hat), not detached, so L_adv reaches the decoder.
            last_layer_weight: w_L for the adaptive weight, e.g. ``decoder.conv_out.weight``.
            step: global training step, compared with ``disc_start``.
            perceptual_fn: (x, x_hat) -> per-image distance (B,) or scalar, e.g. an
                :class:`ldm_teach.metrics.perceptual.LPIPSMetric`. Needed when
                ``perceptual_weight`` > 0; not called when it is 0.
        Returns:
            (loss scalar, logs) with logs "loss", "rec", "perceptual", "kl", "g_loss",
            "d_weight" (lambda, already times disc_weight), "disc_factor", as floats.
            lambda is 0 before ``disc_start`` and when gradients are disabled
            (e.g. validation under ``torch.no_grad``), as in taming.
        Raises:
            ValueError: if ``perceptual_weight`` > 0 and no ``perceptual_fn`` is given; if
                x or x_hat is empty, not floating point or of another shape; if
                ``posterior_kl`` is not a float (B,) tensor; if ``logits_fake`` is empty
                or not floating point.
        """
        cfg = self.config
        # 1. reconstruction and perceptual terms: L_rec' of Eq. 7
        rec = reconstruction_loss(x, x_hat, cfg.rec_kind)  # checks x and x_hat
        check_float("posterior_kl", posterior_kl)
        if posterior_kl.shape != (x.shape[0],):
            raise ValueError(
                f"posterior_kl must be the KL per image, shape (B,) = ({x.shape[0]},) for x "
                f"of shape {tuple(x.shape)}, got {tuple(posterior_kl.shape)}"
            )
        if cfg.perceptual_weight > 0:
            if perceptual_fn is None:
                raise ValueError(
                    f"perceptual_weight={cfg.perceptual_weight} needs a perceptual_fn "
                    f"(e.g. LPIPSMetric); pass one or set perceptual_weight=0"
                )
            perceptual = perceptual_fn(x, x_hat).mean()
        else:
            perceptual = torch.zeros((), device=x.device, dtype=x.dtype)
        nll = rec + cfg.perceptual_weight * perceptual

        # 2. KL of q(z|x) to N(0, I): summed over latent elements, mean over the batch
        kl = posterior_kl.mean()

        # 3. adversarial term with VQGAN's adaptive weight lambda, Eq. 7
        g_loss = self.g_loss_fn(logits_fake)
        disc_factor = discriminator_factor(step, cfg.disc_start)
        if disc_factor > 0 and cfg.disc_weight > 0 and torch.is_grad_enabled():
            d_weight = cfg.disc_weight * adaptive_weight(nll, g_loss, last_layer_weight)
        else:  # D is off, or no graph to differentiate: no adversarial term
            d_weight = torch.zeros((), device=x.device, dtype=x.dtype)

        loss = nll + cfg.kl_weight * kl + disc_factor * d_weight * g_loss
        logs = {
            "loss": float(loss.detach()),
            "rec": float(rec.detach()),
            "perceptual": float(perceptual.detach()),
            "kl": float(kl.detach()),
            "g_loss": float(g_loss.detach()),
            "d_weight": float(d_weight),
            "disc_factor": disc_factor,
        }
        return loss, logs

    def discriminator_loss(
        self, logits_real: Tensor, logits_fake: Tensor, step: int
    ) -> tuple[Tensor, dict[str, float]]:
        """L_D times disc_factor(step).

        Args:
            logits_real: D(x) on real images.
            logits_fake: D(x_hat.detach()), so that this loss does not reach the autoencoder.
            step: global training step, compared with ``disc_start``.
        Returns:
            (loss scalar, logs) with logs "d_loss", "logits_real", "logits_fake" (mean
            logits) and "disc_factor", as floats.
        Raises:
            ValueError: if either logits tensor is empty or not floating point.
        """
        disc_factor = discriminator_factor(step, self.config.disc_start)
        d_loss = disc_factor * self.d_loss_fn(logits_real, logits_fake)
        logs = {
            "d_loss": float(d_loss.detach()),
            "logits_real": float(logits_real.detach().mean()),
            "logits_fake": float(logits_fake.detach().mean()),
            "disc_factor": disc_factor,
        }
        return d_loss, logs
