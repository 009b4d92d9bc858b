"""Configuration of the denoising UNet (:class:`~ldm_teach.models.UNet`), validated at
construction.

The defaults build the course's small UNets. The fields after ``concat_channels`` let the
same class hold Stable Diffusion's layout (Rombach et al. 2022, arXiv:2112.10752; the
diffusers ``UNet2DConditionModel`` configs of SD 1.x and 2.x), so that real checkpoints
load into it (``ldm_teach.interop``):

- ``num_heads`` per level: SD 1.5 has 8 heads everywhere (head width = level width / 8),
  SD 2.x heads of width 64 (5, 10, 20, 20 heads);
- ``transformer_depth`` per level: transformer blocks in each SpatialTransformer (1 in
  SD 1.x/2.x, (1, 2, 10) in SDXL);
- ``linear_projection``: Linear instead of 1x1-conv proj_in / proj_out (SD 2.x);
- ``mid_attention`` / ``mid_conditioning``: what the middle block holds between its two
  ResNet blocks (SD: cross-attention only, even though its deepest level has none);
- ``norm_eps``: the GroupNorm epsilon of the ResNet blocks and the output norm (1e-5 in
  SD; the transformers' input GroupNorm keeps 1e-6, as in SD).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ldm_teach.argcheck import is_int
from ldm_teach.config import ConfigDict
from ldm_teach.nn.norm import check_widths


@dataclass(frozen=True)
class UNetConfig(ConfigDict):
    """Configuration of :class:`UNet`; validated at construction."""

    in_channels: int = 4  # channels of z_t (latent channels, or 3 in pixel space)
    out_channels: int = 4  # channels of the prediction (eps, x0 or v)
    base_channels: int = 64  # width of the first level
    channel_mult: tuple[int, ...] = (1, 2)  # width multiplier per level
    num_res_blocks: int = 2  # ResNet blocks per level on the way down
    attention_levels: tuple[int, ...] = (1,)  # levels (0 = full resolution) with self-attention
    num_heads: int | tuple[int, ...] = 4  # attention heads, one count or one per level
    num_classes: int | None = None  # class-conditional if set; label num_classes means "none"
    dropout: float = 0.0  # dropout in ResNet blocks
    norm_groups: int = 32  # GroupNorm groups; must divide every width
    class_conditioning: str = "embedding"  # "embedding", "film" or "cross_attention"
    condition_levels: tuple[int, ...] | None = None  # levels with FiLM / cross-attention
    context_dim: int | None = None  # width of external context tokens (cross-attention)
    concat_channels: int = 0  # channels of a spatial condition concatenated to z_t
    # Stable Diffusion's layout (see the module docstring); the defaults are the course's
    transformer_depth: int | tuple[int, ...] = 1  # transformer blocks per SpatialTransformer
    linear_projection: bool = False  # Linear proj_in / proj_out (SD 2.x) instead of 1x1 conv
    mid_attention: bool = True  # self-attention in the middle block
    mid_conditioning: bool | None = None  # FiLM / cross-attention in the middle (None: as the
    # deepest level)
    norm_eps: float = 1e-6  # GroupNorm epsilon of the ResNet blocks and the output norm

    def __post_init__(self) -> None:
        _check_unet_config(self)

    @property
    def uses_cross_attention(self) -> bool:
        return self.class_conditioning == "cross_attention" or self.context_dim is not None

    def heads_at(self, level: int) -> int:
        """Attention heads at ``level`` (0 = full resolution; the middle block uses the
        deepest level's)."""
        return self.num_heads if isinstance(self.num_heads, int) else self.num_heads[level]

    def depth_at(self, level: int) -> int:
        """Transformer blocks of the SpatialTransformers at ``level``."""
        d = self.transformer_depth
        return d if isinstance(d, int) else d[level]

    @property
    def conditions_mid(self) -> bool:
        """Whether the middle block holds the FiLM / cross-attention conditioner."""
        if self.mid_conditioning is not None:
            return self.mid_conditioning
        return self.condition_levels is None or len(self.channel_mult) - 1 in self.condition_levels


CLASS_CONDITIONING = ("embedding", "film", "cross_attention")


def _check_unet_config(cfg: UNetConfig) -> None:
    """ValueError naming the first field of ``cfg`` out of range (normalises
    ``condition_levels`` to a tuple)."""
    for name in (
        "in_channels",
        "out_channels",
        "base_channels",
        "num_res_blocks",
        "norm_groups",
    ):
        value = getattr(cfg, name)
        if not is_int(value):
            raise ValueError(f"{name} must be an int, got {value!r}")
    levels = len(cfg.channel_mult) if isinstance(cfg.channel_mult, tuple) else 0
    for name in ("num_heads", "transformer_depth"):
        _check_per_level(cfg, name, levels)
    for name in ("linear_projection", "mid_attention"):
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"{name} must be a bool, got {getattr(cfg, name)!r}")
    if cfg.mid_conditioning is not None and not isinstance(cfg.mid_conditioning, bool):
        raise ValueError(f"mid_conditioning must be None or a bool, got {cfg.mid_conditioning!r}")
    if (
        isinstance(cfg.norm_eps, bool)
        or not isinstance(cfg.norm_eps, numbers.Real)
        or not math.isfinite(cfg.norm_eps)
        or not 0.0 < cfg.norm_eps <= 0.1
    ):
        raise ValueError(f"norm_eps must be a finite number in (0, 0.1], got {cfg.norm_eps!r}")
    if cfg.base_channels < 1:
        raise ValueError(f"base_channels must be a positive even int, got {cfg.base_channels}")
    if cfg.norm_groups < 1:
        raise ValueError(f"norm_groups must be an int >= 1, got {cfg.norm_groups}")
    if (
        isinstance(cfg.dropout, bool)
        or not isinstance(cfg.dropout, numbers.Real)
        or not math.isfinite(cfg.dropout)
        or not 0.0 <= cfg.dropout < 1.0
    ):
        raise ValueError(f"dropout must be a finite number in [0, 1), got {cfg.dropout!r}")
    if cfg.in_channels <= 0 or cfg.out_channels <= 0:
        raise ValueError(
            f"in_channels and out_channels must be positive, got "
            f"{cfg.in_channels} and {cfg.out_channels}"
        )
    if not cfg.channel_mult or any(m <= 0 for m in cfg.channel_mult):
        raise ValueError(f"channel_mult must be non-empty positive ints, got {cfg.channel_mult}")
    if cfg.num_res_blocks < 1:
        raise ValueError(f"num_res_blocks must be >= 1, got {cfg.num_res_blocks}")
    bad = [lvl for lvl in cfg.attention_levels if not 0 <= lvl < len(cfg.channel_mult)]
    if bad:
        raise ValueError(f"attention_levels must be in [0, {len(cfg.channel_mult) - 1}], got {bad}")
    if cfg.num_classes is not None and (not is_int(cfg.num_classes)):
        raise ValueError(f"num_classes must be None or an int >= 1, got {cfg.num_classes!r}")
    if cfg.num_classes is not None and cfg.num_classes < 1:
        raise ValueError(f"num_classes must be None or >= 1, got {cfg.num_classes}")
    if cfg.base_channels % 2:
        raise ValueError(f"base_channels must be even, got {cfg.base_channels}")
    if cfg.condition_levels is not None and not isinstance(cfg.condition_levels, tuple):
        if isinstance(cfg.condition_levels, list):  # accept a list, store a tuple
            object.__setattr__(cfg, "condition_levels", tuple(cfg.condition_levels))
        else:
            raise ValueError(
                f"condition_levels must be None or a tuple of level indices, "
                f"got {cfg.condition_levels!r}"
            )
    for name in ("concat_channels", "context_dim"):
        value = getattr(cfg, name)
        if value is not None and (not is_int(value)):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if cfg.class_conditioning not in CLASS_CONDITIONING:
        raise ValueError(
            f"class_conditioning must be one of {CLASS_CONDITIONING}, got "
            f"{cfg.class_conditioning!r}"
        )
    if cfg.condition_levels is not None:
        bad = [
            lvl
            for lvl in cfg.condition_levels
            if not is_int(lvl) or not 0 <= lvl < len(cfg.channel_mult)
        ]
        if (
            bad
            or not cfg.condition_levels
            or len(set(cfg.condition_levels)) != len(cfg.condition_levels)
        ):
            raise ValueError(
                f"condition_levels must be None or distinct int levels in "
                f"[0, {len(cfg.channel_mult) - 1}], got {cfg.condition_levels}"
            )
        if cfg.class_conditioning == "embedding" and cfg.context_dim is None:
            raise ValueError(
                "condition_levels only applies to class_conditioning='film' or "
                "'cross_attention' (or a context_dim): the 'embedding' label "
                "reaches every block through the time embedding"
            )
    if cfg.context_dim is not None and cfg.context_dim < 1:
        raise ValueError(f"context_dim must be None or >= 1, got {cfg.context_dim}")
    if cfg.concat_channels < 0:
        raise ValueError(f"concat_channels must be >= 0, got {cfg.concat_channels}")
    if (
        cfg.class_conditioning != "embedding"
        and cfg.num_classes is None
        and cfg.context_dim is None
    ):
        raise ValueError(
            f"class_conditioning={cfg.class_conditioning!r} needs "
            f"num_classes (labels) or context_dim (context tokens)"
        )
    check_widths(cfg.base_channels, cfg.channel_mult, cfg.norm_groups)
    for level, m in enumerate(cfg.channel_mult):
        width, heads = cfg.base_channels * m, cfg.heads_at(level)
        if width % heads:
            raise ValueError(
                f"width {width} of level {level} is not divisible by its num_heads={heads}"
            )


def _check_per_level(cfg: UNetConfig, name: str, levels: int) -> None:
    """``name`` must be an int >= 1 or a tuple of one such int per level (a list is
    stored as a tuple, as cards written as JSON give lists)."""
    value = getattr(cfg, name)
    if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(cfg, name, value)
    if is_int(value) and value >= 1:
        return
    if (
        isinstance(value, tuple)
        and len(value) == levels
        and all(is_int(v) and v >= 1 for v in value)
    ):
        return
    raise ValueError(
        f"{name} must be an int >= 1 or a tuple of {levels} such ints (one per level), "
        f"got {value!r}"
    )


__all__ = ["CLASS_CONDITIONING", "UNetConfig"]
