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

Adversarial losses, on logits (no sigmoid), each a mean over every patch of a PatchGAN map:

    hinge           L_D = 1/2 [ mean relu(1 - D(x)) + mean relu(1 + D(x_hat)) ]
                    L_G = - mean D(x_hat)                      (Lim & Ye 2017, arXiv:1705.02894)
    non-saturating  L_D = 1/2 [ mean softplus(-D(x)) + mean softplus(D(x_hat)) ]
                    L_G = mean softplus(-D(x_hat))             (Goodfellow et al. 2014, Sec. 3)

softplus(-l) = -log sigmoid(l), so the non-saturating L_D is binary cross-entropy with
real = 1 and fake = 0. Both L_D carry the factor 1/2 of taming-transformers
(``hinge_d_loss``, ``vanilla_d_loss``): L_D is the *average* of its real and fake terms.
Optional R1 penalty on D (Mescheder et al. 2018, arXiv:1801.04406, Eq. 9):
E_x ||grad_x D(x)||^2 on real images.

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
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_int, check_real, is_int, is_real

DISC_LOSSES = ("hinge", "non_saturating")
REC_KINDS = ("l1", "l2")


def _check_float(name: str, t: Tensor) -> None:
    """Raise a ValueError unless ``t`` is a non-empty floating-point tensor (a mean over no
    elements is NaN, and an integer mean is a raw PyTorch error)."""
    if not isinstance(t, Tensor) or not t.is_floating_point():
        kind = t.dtype if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a floating-point tensor, got {kind}")
    if t.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")


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
    _check_float("x", x)
    _check_float("x_hat", x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    if kind == "l1":
        return (x - x_hat).abs().mean()
    if kind == "l2":
        return (x - x_hat).pow(2).mean()
    raise ValueError(f"kind must be one of {REC_KINDS}, got {kind!r}")


# ---- adversarial -------------------------------------------------------------------------


def hinge_d_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Hinge discriminator loss 1/2 [mean relu(1 - D(x)) + mean relu(1 + D(x_hat))].

    Args:
        logits_real: D's logits on real images, any shape, e.g. (B, 1, h', w').
        logits_fake: D's logits on reconstructions (detached from G), any shape.
    Returns:
        scalar; 0 once every real logit is >= 1 and every fake logit <= -1.
    Raises:
        ValueError: if either logits tensor is empty or not floating point.
    Source: Lim & Ye 2017; factor 1/2 as in taming-transformers ``hinge_d_loss``.
    """
    _check_float("logits_real", logits_real)
    _check_float("logits_fake", logits_fake)
    loss_real = F.relu(1.0 - logits_real).mean()
    loss_fake = F.relu(1.0 + logits_fake).mean()
    return 0.5 * (loss_real + loss_fake)


def hinge_g_loss(logits_fake: Tensor) -> Tensor:
    """Hinge generator loss -mean D(x_hat): G pushes its patch logits up. Scalar.

    Raises:
        ValueError: if ``logits_fake`` is empty or not floating point.
    """
    _check_float("logits_fake", logits_fake)
    return -logits_fake.mean()


def non_saturating_d_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Non-saturating (binary cross-entropy) discriminator loss
    1/2 [mean softplus(-D(x)) + mean softplus(D(x_hat))] = 1/2 [BCE(real, 1) + BCE(fake, 0)].

    Args, returns and raises as :func:`hinge_d_loss`; the value is log 2 when every logit
    is 0.
    Source: Goodfellow et al. 2014; factor 1/2 as in taming-transformers ``vanilla_d_loss``.
    """
    _check_float("logits_real", logits_real)
    _check_float("logits_fake", logits_fake)
    loss_real = F.softplus(-logits_real).mean()
    loss_fake = F.softplus(logits_fake).mean()
    return 0.5 * (loss_real + loss_fake)


def non_saturating_g_loss(logits_fake: Tensor) -> Tensor:
    """Non-saturating generator loss mean softplus(-D(x_hat)) = mean -log sigmoid(D(x_hat)).

    Its gradient stays large while D confidently rejects x_hat, unlike log(1 - sigmoid).
    (taming-transformers uses -mean D(x_hat) for G with either D loss; here each D loss
    is paired with its own G loss.) Scalar.

    Raises:
        ValueError: if ``logits_fake`` is empty or not floating point.
    """
    _check_float("logits_fake", logits_fake)
    return F.softplus(-logits_fake).mean()


def adaptive_weight(
    rec_loss: Tensor,
    g_loss: Tensor,
    last_layer_weight: Tensor,
    max_weight: float = 1e4,
    eps: float = 1e-4,
) -> Tensor:
    """VQGAN's adaptive weight lambda (Esser et al. 2021, Eq. 7):

        lambda = ||grad_{w_L} rec_loss|| / (||grad_{w_L} g_loss|| + eps),
        clamped to [0, max_weight]

    Args:
        rec_loss: scalar reconstruction (+ perceptual) loss, in the graph of w_L.
        g_loss: scalar generator adversarial loss, in the graph of w_L.
        last_layer_weight: w_L, the weight of the decoder's last layer (a leaf that
            requires grad), e.g. ``model.decoder.conv_out.weight``.
        max_weight: upper clamp (1e4 in taming).
        eps: added to the denominator (1e-4 in taming) so a vanishing GAN gradient
            cannot divide by zero.
    Returns:
        lambda, a detached scalar tensor: no gradient flows through the weighting itself.
        The gradients are taken with ``retain_graph=True``, so both losses can still be
        backpropagated afterwards.
    Raises:
        ValueError: if ``max_weight`` or ``eps`` is not positive, a loss is not a scalar
            float tensor that requires grad, or ``last_layer_weight`` does not require grad.
    """
    check_real(max_weight, "max_weight", 0.0, lo_open=True, expected="positive")
    check_real(eps, "eps", 0.0, lo_open=True, expected="positive")
    for name, t in (("rec_loss", rec_loss), ("g_loss", g_loss)):
        _check_float(name, t)
        if t.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got shape {tuple(t.shape)}")
        if not t.requires_grad:
            raise ValueError(
                f"{name} must require grad (be computed from last_layer_weight, "
                f"outside torch.no_grad)"
            )
    if not isinstance(last_layer_weight, Tensor) or not last_layer_weight.requires_grad:
        raise ValueError(
            "last_layer_weight must be a tensor that requires grad, e.g. "
            "model.decoder.conv_out.weight"
        )
    (rec_grad,) = torch.autograd.grad(rec_loss, last_layer_weight, retain_graph=True)
    (g_grad,) = torch.autograd.grad(g_loss, last_layer_weight, retain_graph=True)
    weight = rec_grad.norm() / (g_grad.norm() + eps)
    return weight.clamp(0.0, max_weight).detach()


def discriminator_factor(step: int, disc_start: int) -> float:
    """Delayed start of the adversarial terms: 0.0 while step < disc_start, else 1.0
    (taming's ``adopt_weight``; the LDM KL-f configs start D at step 50001).

    Raises:
        ValueError: unless ``step`` and ``disc_start`` are ints >= 0 (NaN used to give 1.0).
    """
    check_int(step, "step", lo=0)
    check_int(disc_start, "disc_start", lo=0)
    return 0.0 if step < disc_start else 1.0


def r1_gradient_penalty(discriminator: nn.Module, real: Tensor) -> Tensor:
    """R1 penalty E_x ||grad_x D(x)||^2 on real images (Mescheder et al. 2018, Eq. 9,
    without their factor gamma / 2, which the caller chooses).

    For a PatchGAN, D(x) is summed over its patch logits before differentiating, so each
    image contributes the squared norm of the gradient of its summed logit map.

    Args:
        discriminator: maps (B, C, H, W) to logits (B, ...). With batch norm in training
            mode the images of a batch are coupled, so prefer ``norm="none"`` /
            spectral norm, or eval mode, when using this penalty.
        real: real images (B, C, H, W); detached internally.
    Returns:
        scalar, mean over the batch of the per-image squared gradient norm; built with
        ``create_graph=True``, so it can be backpropagated into D's parameters.
    Raises:
        ValueError: if ``real`` is not a non-empty float batch (B >= 1).
    """
    _check_float("real", real)
    if real.ndim < 2:
        raise ValueError(f"real must be a batch (B, C, H, W), got shape {tuple(real.shape)}")
    real = real.detach().requires_grad_(True)
    logits = discriminator(real)  # (B, 1, h', w') or (B, 1)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)  # (B, C, H, W)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def wgan_gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty E_{x~} (||grad_{x~} D(x~)||_2 - 1)^2 at random interpolates
    x~ = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per image (Gulrajani et al. 2017,
    arXiv:1704.00028, Eq. 3 and Algorithm 1; the chapter's 10.2.3 ``gradient_penalty``).

    As for :func:`r1_gradient_penalty`, a PatchGAN's logit map is summed per image before
    differentiating.

    Args:
        discriminator: maps (B, C, H, W) to logits (B, ...).
        real, fake: images of the same shape (B, C, H, W); both detached internally.
        generator: seeds eps (on real's device).
    Returns:
        scalar, mean over the batch; built with ``create_graph=True``.
    Raises:
        ValueError: if real and fake differ in shape or dtype, are not floating point, or
            are not non-empty (B, C, H, W) batches.
        RuntimeError: if called with gradients disabled.
    """
    _check_float("real", real)
    _check_float("fake", fake)
    if real.dtype != fake.dtype:
        raise ValueError(
            f"real and fake must have the same dtype, got {real.dtype} and {fake.dtype}"
        )
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} "
            f"and {tuple(fake.shape)}"
        )
    if real.ndim != 4 or real.shape[0] == 0:
        raise ValueError(
            f"real and fake must be non-empty (B, C, H, W) batches, got {tuple(real.shape)}"
        )
    if not torch.is_grad_enabled():
        raise RuntimeError(
            "wgan_gradient_penalty needs gradients: call it outside "
            "torch.no_grad() (it differentiates D with respect to its input)"
        )
    eps = torch.rand(
        real.shape[0], 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype
    )
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


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
        _check_float("posterior_kl", posterior_kl)
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
