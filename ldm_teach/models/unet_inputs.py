"""The checks on what :meth:`UNet.forward <ldm_teach.models.UNet.forward>` is given: x, t,
labels, context tokens and the spatial condition. Kept apart so that ``forward`` reads as the
network's equations; every message names the argument and what was expected."""

from __future__ import annotations

import torch
from torch import Tensor

#: The largest timestep the UNet accepts. It does not know the schedule's T (usually 1000),
#: so it only refuses values that cannot be a timestep of any reasonable schedule.
MAX_TIMESTEP = 1e5


def check_unet_timesteps(t: Tensor) -> None:
    """Raise ``ValueError`` unless every t is a finite real number in [0, MAX_TIMESTEP].

    One vectorised test (a single read from the device) per call.
    """
    if t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"t must be a real (integer) tensor of timesteps, got dtype {t.dtype}")
    bad = (t < 0) | (t > MAX_TIMESTEP)
    if t.dtype.is_floating_point:
        bad = bad | ~torch.isfinite(t)
    if bool(bad.any()):
        value = t[bad][0].item()
        raise ValueError(
            f"t must be finite timesteps in [0, {MAX_TIMESTEP:g}] (integers in [0, T-1], "
            f"e.g. [0, 999]), got {value}"
        )


def _check_x(cfg, dtype: torch.dtype, size_divisor: int, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"x must be a torch.Tensor, got {type(x).__name__} (convert with torch.as_tensor)"
        )
    if x.ndim != 4 or x.shape[1] != cfg.in_channels:
        raise ValueError(f"x must have shape (B, {cfg.in_channels}, H, W), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(
            f"x must hold at least one sample (B >= 1), got an empty batch {tuple(x.shape)}"
        )
    if x.dtype != dtype:
        fix = (
            f"x.to({dtype}) or unet.to({x.dtype})"
            if x.is_floating_point()
            else f"x.to({dtype}): x must be floating point"
        )
        raise TypeError(f"x must have the UNet's dtype {dtype}, got {x.dtype}; convert ({fix})")
    if x.shape[2] % size_divisor or x.shape[3] % size_divisor:
        raise ValueError(
            f"x's height and width must be divisible by {size_divisor}, got {tuple(x.shape[2:])}"
        )


def _check_labels(cfg, x: Tensor, y) -> Tensor | None:
    """The labels as int64 (B,), the null label num_classes for None; None without classes."""
    B = x.shape[0]
    if cfg.num_classes is None:
        if y is not None:
            raise ValueError("y was given but this UNet has num_classes=None")
        return None
    if y is None:
        return torch.full((B,), cfg.num_classes, dtype=torch.long, device=x.device)
    if not isinstance(y, Tensor):
        raise ValueError(f"y must be an integer tensor of shape ({B},), got {type(y).__name__}")
    if (
        y.shape != (B,)
        or y.is_floating_point()
        or y.is_complex()
        or y.dtype in (torch.bool, torch.uint8)
    ):
        raise ValueError(
            f"y must be an integer tensor of shape ({B},), got {y.dtype} {tuple(y.shape)}"
        )
    y = y.long()  # int8/int16/int32 labels index the embedding as int64
    if int(y.min()) < 0 or int(y.max()) > cfg.num_classes:
        raise ValueError(
            f"labels y must be in [0, {cfg.num_classes}] ({cfg.num_classes} = "
            f"unconditional), got range [{int(y.min())}, {int(y.max())}]"
        )
    return y


def check_forward_inputs(
    cfg, dtype: torch.dtype, size_divisor: int, x, t, y, context, context_mask, concat
):
    """Validate ``UNet.forward``'s inputs for a UNet of config ``cfg`` whose weights have
    ``dtype`` and whose levels need H, W divisible by ``size_divisor``.

    Returns:
        (t as a (B,) tensor, y as int64 (B,) or None, context in x's dtype or None,
        context_mask, concat in x's dtype or None).
    Raises:
        TypeError: x is not a tensor of the UNet's dtype.
        ValueError: naming the argument whose shape, range or presence is wrong.
    """
    _check_x(cfg, dtype, size_divisor, x)
    B = x.shape[0]
    if not isinstance(t, Tensor):
        t = torch.as_tensor(t, device=x.device)
    if t.ndim == 0:
        t = t.expand(B)
    if t.shape != (B,):
        raise ValueError(f"t must have shape ({B},), got {tuple(t.shape)}")
    check_unet_timesteps(t)
    if cfg.concat_channels:
        if concat is None or concat.shape != (B, cfg.concat_channels, *x.shape[2:]):
            got = None if concat is None else tuple(concat.shape)
            raise ValueError(
                f"concat must have shape ({B}, {cfg.concat_channels}, "
                f"{x.shape[2]}, {x.shape[3]}), got {got}"
            )
        concat = concat.to(x.dtype)
    elif concat is not None:
        raise ValueError("concat was given but this UNet has concat_channels=0")
    if context is not None:
        if cfg.context_dim is None:
            raise ValueError("context was given but this UNet has context_dim=None")
        if (
            context.ndim != 3
            or context.shape[0] != B
            or context.shape[2] != cfg.context_dim
            or context.shape[1] == 0
        ):
            raise ValueError(
                f"context must have shape ({B}, M >= 1, "
                f"{cfg.context_dim}), got {tuple(context.shape)}"
            )
        context = context.to(x.dtype)
    elif context_mask is not None:
        raise ValueError("context_mask was given without context")
    y = _check_labels(cfg, x, y)
    label_is_context = y is not None and cfg.class_conditioning == "cross_attention"
    if cfg.uses_cross_attention and context is None and not label_is_context:
        raise ValueError(
            "this UNet conditions by cross-attention: pass context tokens "
            "(or labels y if it has num_classes)"
        )
    return t, y, context, context_mask, concat
