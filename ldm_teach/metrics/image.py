"""Per-image PSNR and SSIM, the reconstruction metrics of the LDM paper's autoencoder tables.

Rombach et al. 2022 (arXiv:2112.10752, Table 8) score first-stage autoencoders by PSNR and
SSIM between an image and its reconstruction. Both are computed here with torchmetrics, one
value per image, so that a notebook can show their spread and not only their mean.

* PSNR = 10 log10(data_range^2 / MSE), in dB, MSE taken over all C*H*W values of one image.
* SSIM (Wang et al. 2004, IEEE TIP 13(4), Eq. 13) averaged over the image (their Eq. 17),
  with their defaults: an 11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03.

``data_range`` is the width of the interval the pixels live in. It defaults to 2.0 because
every image in ``ldm_teach`` lives in [-1, 1]; pass 1.0 for [0, 1] and 255.0 for uint8-like
values. Papers that report PSNR on [0, 255] images get the same number as here, since PSNR
depends only on the ratio of data_range to the error.

A data_range that does not match the images gives a plausible but wrong number (data_range
255 on [-1, 1] images adds 20 log10(127.5) = 42 dB), so the inputs are checked against it:
each of x and y may span at most data_range (1e-4 relative slack), and a data_range above
2 is refused when every value of x and y lies in [-1, 1] (1e-3 slack), the signature of
[-1, 1] or [0, 1] images scored on a 0-255 scale. (A genuine 0-255 pair whose pixels are
all 0 or 1, a black image, is refused too; rescale such images or use data_range=1.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from ldm_teach.argcheck import is_real

SSIM_KERNEL_SIZE = 11  # side of the Gaussian window (Wang et al. 2004, Sec. III-C)


def _check_pair(x: Tensor, y: Tensor, data_range: float, min_side: int = 1) -> None:
    """Raise ValueError unless x, y are same-shape float (B, C, H, W) within data_range."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
        if t.numel() == 0:
            raise ValueError(
                f"{name} must be non-empty (B, C, H, W >= 1), got shape {tuple(t.shape)}"
            )
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.dtype != y.dtype:
        raise ValueError(f"x and y must have the same dtype, got {x.dtype} and {y.dtype}")
    if not is_real(data_range):
        raise ValueError(f"data_range must be a number, got {type(data_range).__name__}")
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be finite and positive, got {data_range}")
    if min(x.shape[-2:]) < min_side:
        raise ValueError(
            f"x height and width must be at least {min_side}, got {x.shape[-2]}x{x.shape[-1]}"
        )
    for name, t in (("x", x), ("y", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} must be finite, got NaN or inf values")
        spread = (t.max() - t.min()).item()
        if spread > data_range * (1 + 1e-4):  # small slack for float rounding
            raise ValueError(
                f"{name} spans {spread:.4g}, more than data_range={data_range}; clamp the "
                f"images or pass the data_range they live in (2.0 for [-1, 1], 1.0 for [0, 1])"
            )
    lo, hi = min(x.min().item(), y.min().item()), max(x.max().item(), y.max().item())
    if data_range > 2.0 and lo >= -1.0 - 1e-3 and hi <= 1.0 + 1e-3:
        raise ValueError(
            f"x and y lie in [{lo:.3g}, {hi:.3g}], inside [-1, 1], but data_range={data_range}: "
            f"pass data_range=2.0 for images in [-1, 1] or 1.0 for images in [0, 1] (PSNR on "
            f"a 0-255 scale is the same number once the images are rescaled)"
        )


def psnr(x: Tensor, y: Tensor, data_range: float = 2.0) -> Tensor:
    """Peak signal-to-noise ratio of each image pair, in dB.

    PSNR_b = 10 log10(data_range^2 / MSE_b), MSE_b = mean over (C, H, W) of (x_b - y_b)^2.

    Args:
        x: (B, C, H, W) float images, e.g. reconstructions.
        y: (B, C, H, W) float reference images, same shape and dtype as x.
        data_range: width of the pixel interval; 2.0 for images in [-1, 1] (the default).
    Returns:
        (B,) PSNR in dB, one per image. Identical images give +inf (MSE = 0); it is not
        capped, so take the mean of a batch only when no pair is identical.
    Raises:
        ValueError: if shapes or dtypes differ, inputs are not 4-D float, are empty
            (B = 0, or any other side 0), contain NaN/inf, or span more than data_range; if
            data_range is not a finite positive number, or is above 2 while every value of
            x and y lies in [-1, 1] (see the module docstring).
    """
    _check_pair(x, y, data_range)
    return peak_signal_noise_ratio(
        x, y, data_range=data_range, reduction="none", dim=(1, 2, 3)
    )  # (B,)


def ssim(x: Tensor, y: Tensor, data_range: float = 2.0) -> Tensor:
    """Structural similarity of each image pair (Wang et al. 2004, Eq. 13 and 17).

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 +
    sigma_y^2 + C2)) in each 11x11 Gaussian window, C1 = (0.01 data_range)^2,
    C2 = (0.03 data_range)^2, averaged over windows and channels.

    Args:
        x: (B, C, H, W) float images, H and W at least 11.
        y: (B, C, H, W) float reference images, same shape and dtype as x.
        data_range: width of the pixel interval; 2.0 for images in [-1, 1] (the default).
    Returns:
        (B,) SSIM in [-1, 1], one per image; exactly 1 when x equals y.
    Raises:
        ValueError: as in ``psnr`` (shape, dtype, B = 0, NaN/inf, data_range that the
            values do not fit), and if H or W is smaller than the 11x11 window.
    """
    _check_pair(x, y, data_range, min_side=SSIM_KERNEL_SIZE)
    return structural_similarity_index_measure(
        x,
        y,
        gaussian_kernel=True,
        sigma=1.5,
        kernel_size=SSIM_KERNEL_SIZE,
        reduction="none",
        data_range=data_range,
        k1=0.01,
        k2=0.03,
    )  # (B,)
