"""Adversarial losses of the first-stage autoencoder: the PatchGAN discriminator's loss
L_D, the autoencoder's (generator's) loss L_G, VQGAN's adaptive weight lambda and the
delayed start of both (Esser et al. 2021 "VQGAN", arXiv:2012.09841, Sec. 3.2, Eq. 5-7;
Rombach et al. 2022, arXiv:2112.10752, Sec. 3.1). They are combined with the
reconstruction terms by :class:`ldm_teach.autoencoders.losses.AutoencoderLoss`.

Adversarial losses, on logits (no sigmoid), each a mean over every patch of a PatchGAN map:

    hinge           L_D = 1/2 [ mean relu(1 - D(x)) + mean relu(1 + D(x_hat)) ]
                    L_G = - mean D(x_hat)                      (Lim & Ye 2017, arXiv:1705.02894)
    non-saturating  L_D = 1/2 [ mean softplus(-D(x)) + mean softplus(D(x_hat)) ]
                    L_G = mean softplus(-D(x_hat))             (Goodfellow et al. 2014, Sec. 3)

softplus(-l) = -log sigmoid(l), so the non-saturating L_D is binary cross-entropy with
real = 1 and fake = 0. Both L_D carry the factor 1/2 of taming-transformers
(``hinge_d_loss``, ``vanilla_d_loss``): L_D is the *average* of its real and fake terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.argcheck import check_int, check_real
from ldm_teach.autoencoders.input_checks import check_float

DISC_LOSSES = ("hinge", "non_saturating")


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
    check_float("logits_real", logits_real)
    check_float("logits_fake", logits_fake)
    loss_real = F.relu(1.0 - logits_real).mean()
    loss_fake = F.relu(1.0 + logits_fake).mean()
    return 0.5 * (loss_real + loss_fake)


def hinge_g_loss(logits_fake: Tensor) -> Tensor:
    """Hinge generator loss -mean D(x_hat): G pushes its patch logits up. Scalar.

    Raises:
        ValueError: if ``logits_fake`` is empty or not floating point.
    """
    check_float("logits_fake", logits_fake)
    return -logits_fake.mean()


def non_saturating_d_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Non-saturating (binary cross-entropy) discriminator loss
    1/2 [mean softplus(-D(x)) + mean softplus(D(x_hat))] = 1/2 [BCE(real, 1) + BCE(fake, 0)].

    Args, returns and raises as :func:`hinge_d_loss`; the value is log 2 when every logit
    is 0.
    Source: Goodfellow et al. 2014; factor 1/2 as in taming-transformers ``vanilla_d_loss``.
    """
    check_float("logits_real", logits_real)
    check_float("logits_fake", logits_fake)
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
    check_float("logits_fake", logits_fake)
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
        check_float(name, t)
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
