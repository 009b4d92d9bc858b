"""Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598, Eq. 6).

One network is trained both with its condition c and, with some probability, with a null
condition ∅. At sampling time the two predictions are extrapolated:

    ε̃ = ε(x_t, ∅) + w · (ε(x_t, c) - ε(x_t, ∅))

w = 0 is the unconditional model, w = 1 the plain conditional model, w > 1 pushes samples
further towards the condition. This is the convention of diffusers and Stable Diffusion
(``guidance_scale``, typically 7.5). Ho & Salimans write ε̃ = (1 + w') ε_c - w' ε_∅, the
same formula with w = 1 + w'; so their w' = 0 is our guidance_scale = 1.
"""

from __future__ import annotations

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
