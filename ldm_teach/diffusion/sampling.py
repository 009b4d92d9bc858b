"""What the DDPM and DDIM samplers share: the model-function type, x_T, argument checks.

Both samplers (``ddpm.py``, ``ddim.py``) import this module; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ldm_teach.diffusion.forward import gaussian_noise

ModelFn = Callable[[Tensor, Tensor], Tensor]  # (x_t (B, C, H, W), t (B,) int64) -> (B, C, H, W)


def check_clip_sample(clip_sample: float | None) -> None:
    """Raise ``ValueError`` unless clip_sample is None or a positive number."""
    if clip_sample is not None and not (isinstance(clip_sample, (int, float)) and clip_sample > 0):
        raise ValueError(f"clip_sample must be None or a positive float, got {clip_sample!r}")


def initial_noise(
    shape: tuple[int, ...],
    x_T: Tensor | None,
    generator: torch.Generator | None,
    device: torch.device | str | None,
) -> Tensor:
    """x_T for a sampler: the given ``x_T`` (moved to ``device`` if one is given) or fresh
    float32 N(0, I) noise of ``shape``, seeded by ``generator``.

    Raises:
        ValueError: if x_T's shape is not ``shape``.
    """
    shape = tuple(shape)
    if x_T is None:
        return gaussian_noise(shape, generator, device=device, dtype=torch.float32)
    if tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    return x_T.to(device) if device is not None else x_T
