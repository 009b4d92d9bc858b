"""Three distortions of the same images at the same pixel error (Sec. 10.2.2).

A perceptual distance is worth its name if it tells apart errors that PSNR cannot. This
module makes three such errors for a batch of images, each with the squared error of a
one-pixel shift:

1. ``"1-px shift"``: roll every image one pixel to the right (wrapping around);
   MSE_b = mean over (C, H, W) of (shift(x_b) - x_b)^2;
2. ``"noise"``: x + s_b * n with n ~ N(0, I), s_b chosen so that mean(s_b n)^2 = MSE_b;
3. ``"blur"``: x + s_b * (box3(x) - x), the 3x3 box blur's change rescaled to MSE_b
   (s_b > 1 blurs more than one box filter, s_b < 1 less).

Noise and blur are clipped to [-1, 1] afterwards, which lowers their error slightly (the
PSNRs then differ by a fraction of a dB). An image that a shift leaves unchanged gets no
noise and no blur.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ldm_teach.argcheck import check_int


def _rescaled(x: Tensor, delta: Tensor, mse: Tensor) -> Tensor:
    """x + delta scaled per image to mean squared value mse, clipped to [-1, 1]."""
    power = delta.pow(2).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    scale = torch.where(power > 0, mse / power.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
    return (x + delta * scale.sqrt()).clamp(-1, 1)


def equal_mse_distortions(x: Tensor, seed: int = 0) -> dict[str, Tensor]:
    """The three distortions of the module docstring, at the MSE of a one-pixel shift.

    Args:
        x: images (B, C, H, W), float, in [-1, 1], B >= 1, W >= 2.
        seed: seeds the noise (``torch.Generator().manual_seed(seed)``), an int >= 0.
    Returns:
        {"1-px shift", "noise", "blur"} -> (B, C, H, W) tensors of x's dtype, in [-1, 1].
    Raises:
        ValueError: if x is not a non-empty 4-D float tensor with W >= 2 and finite
            values, or seed is not an int >= 0.
    """
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] == 0 or not x.is_floating_point():
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a non-empty (B, C, H, W) float tensor, got {got}")
    if x.shape[3] < 2 or not bool(torch.isfinite(x).all()):
        raise ValueError(f"x must be finite with W >= 2, got shape {tuple(x.shape)}")
    shifted = torch.roll(x, shifts=1, dims=3)  # 1. one pixel to the right
    mse = (shifted - x).pow(2).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    blur = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)  # 3x3 box, edges renormalised
    return {
        "1-px shift": shifted,
        "noise": _rescaled(x, noise, mse),  # 2.
        "blur": _rescaled(x, blur - x, mse),  # 3.
    }
