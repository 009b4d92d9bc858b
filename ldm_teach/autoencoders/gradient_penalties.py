"""Gradient penalties on the discriminator of the adversarial autoencoder, added to its
loss L_D (:mod:`ldm_teach.autoencoders.adversarial_losses`) to keep D smooth around the
data:

    R1      E_x ||grad_x D(x)||^2 on real images        (Mescheder et al. 2018,
                                                         arXiv:1801.04406, Eq. 9)
    WGAN-GP E_x~ (||grad_x~ D(x~)||_2 - 1)^2 at random   (Gulrajani et al. 2017,
            interpolates of real and fake images         arXiv:1704.00028, Eq. 3)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ldm_teach.autoencoders.input_checks import check_float


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
    check_float("real", real)
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
    check_float("real", real)
    check_float("fake", fake)
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
