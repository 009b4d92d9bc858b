"""Sinusoidal timestep embedding (Vaswani et al. 2017, arXiv:1706.03762, Sec. 3.5;
as used for diffusion timesteps by Ho et al. 2020, arXiv:2006.11239, Appendix B).

For a timestep t and an embedding of even width d = 2k:

    freq_i = exp(-ln(max_period) * i / k),   i = 0 .. k-1
    emb(t) = [cos(t * freq_0), ..., cos(t * freq_{k-1}), sin(t * freq_0), ..., sin(t * freq_{k-1})]

This is the cos-first order of the ADM code base (diffusers: ``flip_sin_to_cos=True``,
``downscale_freq_shift=0``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Embed integer (or real) timesteps as sinusoids.

    Args:
        t: timesteps, shape (B,), any numeric dtype; typically integers in [0, T-1].
        dim: embedding width, a positive even integer.
        max_period: the longest wavelength, in timesteps (10000 in the papers).
    Returns:
        float32 tensor (B, dim) with values in [-1, 1].
    Raises:
        ValueError: if ``t`` is not one-dimensional or ``dim`` is not a positive even int.
    """
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,), got {tuple(t.shape)}")
    if dim <= 0 or dim % 2 != 0:
        raise ValueError(f"dim must be a positive even integer, got {dim}")
    half = dim // 2
    exponent = (
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    freqs = torch.exp(exponent)  # (k,)
    args = t.float()[:, None] * freqs[None, :]  # (B, k)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2k)
