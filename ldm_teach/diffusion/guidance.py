"""Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598, Eq. 6), and guidance
rescale (Lin et al. 2023, arXiv:2305.08891, Sec. 3.4).

One network is trained both with its condition c and, with some probability, with a null
condition ∅. At sampling time the two predictions are extrapolated:

    ε̃ = ε(x_t, ∅) + w · (ε(x_t, c) - ε(x_t, ∅))

w = 0 is the unconditional model, w = 1 the plain conditional model, w > 1 pushes samples
further towards the condition. This is the convention of diffusers and Stable Diffusion
(``guidance_scale``, typically 7.5). Ho & Salimans write ε̃ = (1 + w') ε_c - w' ε_∅, the
same formula with w = 1 + w'; so their w' = 0 is our guidance_scale = 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ldm_teach.argcheck import check_real


def classifier_free_guidance(eps_uncond: Tensor, eps_cond: Tensor, guidance_scale: float) -> Tensor:
    """Combine unconditional and conditional predictions: eps_u + w (eps_c - eps_u).

    Args:
        eps_uncond: (B, C, H, W) prediction with the null condition.
        eps_cond: (B, C, H, W) prediction with the condition; same shape as eps_uncond.
        guidance_scale: w, a finite real number (w = 1 returns eps_cond, w = 0 returns
            eps_uncond; w < 0 guides away from the condition).
    Returns:
        The guided prediction, same shape as the inputs. Works equally for v or x0 outputs,
        since the combination is linear.
    Raises:
        ValueError: if the shapes differ, or ``guidance_scale`` is NaN, infinite, a bool or
            not a number (NaN would return an all-NaN prediction without a word).
    """
    guidance_scale = check_real(guidance_scale, "guidance_scale")
    if eps_uncond.shape != eps_cond.shape:
        raise ValueError(
            f"eps_cond must have eps_uncond's shape {tuple(eps_uncond.shape)}, "
            f"got {tuple(eps_cond.shape)}"
        )
    return eps_uncond + guidance_scale * (eps_cond - eps_uncond)


def rescale_guidance(guided: Tensor, cond: Tensor, guidance_rescale: float) -> Tensor:
    """Guidance rescale φ (Lin et al. 2023, arXiv:2305.08891, Sec. 3.4, Eq. 15-16).

    A large guidance scale inflates the prediction's spread beyond what the model ever
    produced (over-exposed, over-saturated samples). Rescaling matches the per-sample
    standard deviation of the guided prediction to that of the conditional one, then mixes:

        x_rescaled = guided · std(cond) / std(guided)        Eq. 15 (std per sample)
        x_final    = φ x_rescaled + (1 - φ) guided            Eq. 16

    φ = 0 returns ``guided`` unchanged; the paper uses φ = 0.7. Diffusers' pipelines apply
    it to the guided network output (``rescale_noise_cfg``), as here.

    Args:
        guided: (B, ...) the classifier-free-guided prediction.
        cond: (B, ...) the conditional prediction, same shape.
        guidance_rescale: φ, a finite number in [0, 1].
    Returns:
        Same shape and dtype as ``guided``.
    Raises:
        ValueError: if the shapes differ or φ is not in [0, 1].
    """
    phi = check_real(guidance_rescale, "guidance_rescale", lo=0.0, hi=1.0)
    if guided.shape != cond.shape:
        raise ValueError(
            f"cond must have guided's shape {tuple(guided.shape)}, got {tuple(cond.shape)}"
        )
    if phi == 0.0:
        return guided
    dims = tuple(range(1, guided.ndim))  # every dimension but the batch
    std_cond = cond.std(dim=dims, keepdim=True)  # (B, 1, ...)
    std_guided = guided.std(dim=dims, keepdim=True)  # (B, 1, ...)
    # a constant guided sample (std 0, e.g. an untrained zero-output UNet) is left as it
    # is, where diffusers' rescale_noise_cfg would return 0/0 = NaN
    ratio = torch.where(std_guided > 0, std_cond / std_guided, torch.ones_like(std_guided))
    rescaled = guided * ratio  # Eq. 15
    return phi * rescaled + (1.0 - phi) * guided  # Eq. 16
