"""Summary statistics of latents: what section 10.1.6 asks of a latent space that a
diffusion model will model (centred, unit scale, close to Gaussian).

Kurtosis is Fisher's excess kurtosis from ``scipy.stats.kurtosis`` (0 for a Gaussian,
> 0 for heavy tails).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from torch import Tensor

from ldm_teach.argcheck import check_bool


def latent_stats(z: Tensor, per_channel: bool = False) -> dict:
    """Mean, standard deviation and excess kurtosis of latents.

    Args:
        z: latents (N, C, h, w), any float dtype.
        per_channel: also return lists with one value per channel.
    Returns:
        {"mean", "std", "kurtosis"} as floats over all elements, and with
        ``per_channel`` {"channel_mean", "channel_std", "channel_kurtosis"} lists of C floats.
    Raises:
        ValueError: if ``z`` is not 4-D or is empty.
    """
    if z.ndim != 4 or z.numel() == 0:
        raise ValueError(f"z must be a non-empty (N, C, h, w) tensor, got {tuple(z.shape)}")
    per_channel = check_bool(per_channel, "per_channel")
    arr = z.detach().float().cpu().numpy()
    flat = arr.ravel()
    out = {
        "mean": float(flat.mean()),
        "std": float(flat.std(ddof=1)),
        "kurtosis": float(stats.kurtosis(flat, fisher=True)),
    }
    if per_channel:
        ch = np.moveaxis(arr, 1, 0).reshape(arr.shape[1], -1)  # (C, N*h*w)
        out["channel_mean"] = [float(c.mean()) for c in ch]
        out["channel_std"] = [float(c.std(ddof=1)) for c in ch]
        out["channel_kurtosis"] = [float(stats.kurtosis(c, fisher=True)) for c in ch]
    return out
