"""The checks stage 1 runs on its tensor arguments, so that a wrong input fails with a
message that names it rather than deep inside a convolution: images in [-1, 1] of the
model's shape and dtype (:func:`check_image`), latents (:func:`check_latent`), and the float
tensors the losses take (:func:`check_float`). Shared by the KL and VQ autoencoders and the
losses of :mod:`ldm_teach.autoencoders.losses`.

    x: (B, C_img, H, W), float, in [-1, 1], H and W divisible by f
    z: (B, c, H/f, W/f)                   (Rombach et al. 2022, arXiv:2112.10752, Sec. 3.1)
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_float(name: str, t: Tensor) -> None:
    """Raise a ValueError unless ``t`` is a non-empty floating-point tensor (a mean over no
    elements is NaN, and an integer mean is a raw PyTorch error)."""
    if not isinstance(t, Tensor) or not t.is_floating_point():
        kind = t.dtype if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a floating-point tensor, got {kind}")
    if t.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")


def check_dtype(name: str, t: Tensor, dtype: torch.dtype | None) -> None:
    """Raise a ValueError unless ``t`` is floating point and, when ``dtype`` is given and no
    ``torch.autocast`` region is active on t's device (autocast casts inputs itself), has
    that dtype (the dtype of the module's parameters)."""
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if dtype is not None and t.dtype != dtype and not torch.is_autocast_enabled(t.device.type):
        raise ValueError(
            f"{name} is {t.dtype} but the model's parameters are {dtype}: convert one of "
            f"them, e.g. {name}.to({dtype}), or run under torch.autocast"
        )


#: Images are in [-1, 1]; values beyond this magnitude can only be images in another range
#: (most often [0, 255]), refused by :func:`check_image`. The bound is loose on purpose:
#: noisy or augmented images, and the Gaussian test inputs, stay well inside it.
MAX_ABS_IMAGE = 10.0


def check_image(
    x: Tensor, in_channels: int, downsample_factor: int, dtype: torch.dtype | None = None
) -> None:
    """Raise a ValueError unless x is a finite, non-empty float (B, in_channels, H, W)
    tensor with H, W divisible by f, of the given ``dtype`` if one is given (see
    :func:`check_dtype`), and no value beyond :data:`MAX_ABS_IMAGE` in magnitude (images in
    [0, 255] instead of [-1, 1])."""
    f = downsample_factor
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"x must have shape (B, {in_channels}, H, W), got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"x must be non-empty (B, H, W >= 1), got shape {tuple(x.shape)}")
    if x.shape[2] % f or x.shape[3] % f:
        raise ValueError(
            f"x's height and width must be divisible by the downsampling factor f={f}, "
            f"got {tuple(x.shape[2:])}"
        )
    check_dtype("x", x, dtype)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite, got NaN or inf values")
    peak = float(x.detach().abs().max())
    if peak > MAX_ABS_IMAGE:
        raise ValueError(
            f"x must be images in [-1, 1], got values up to {peak:g} in magnitude; images in "
            "[0, 255] become x / 127.5 - 1, images in [0, 1] become 2 * x - 1"
        )


def check_latent(z: Tensor, channels: int, dtype: torch.dtype | None = None, name: str = "z"):
    """Raise a ValueError unless z is a non-empty float (B, channels, h, w) tensor, of the
    given ``dtype`` if one is given (see :func:`check_dtype`)."""
    if not isinstance(z, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
    if z.ndim != 4 or z.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, h, w), got {tuple(z.shape)}")
    if z.numel() == 0:
        raise ValueError(f"{name} must be non-empty (B, h, w >= 1), got shape {tuple(z.shape)}")
    check_dtype(name, z, dtype)
